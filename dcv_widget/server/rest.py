"""The Desktops panel's REST API under `<base>dcv-widget/api/`: thin tornado handlers over
panel.py.

Jupyter authenticates every request (`web.authenticated`: 403 without a login, APIHandler never
redirects) and authorizes it (`authorized`, resource `dcv_widget`: read for GET, write for the
rest); writes need Jupyter's XSRF token unless authenticated by Jupyter's token header, as every
Jupyter API. Live updates are polled: the list answers with an ETag (tornado's, from the body)
and a browser that sends it back in If-None-Match gets an empty 304 while nothing changed.

    GET  desktops                      {"cards": [...]}: the widget's cards, newest first
    POST desktops         {field: value, ...}  launch: 201 {"card"}; 400 {"message", "field",
                                       "errors", "launcher"}, each error named by its label
    POST desktops/<id>/end | dismiss | check   202; 404 not this user's; 409 not offered now
    POST desktops/<id>/relaunch        Launch again: 201 {"card"}, or 200 {"values", "launcher"}:
                                       the form to open, the field to change marked
    GET  desktops/<id>/connect         {"path"}: the proxy's entry, relative to the base URL
    POST form             {field: value, ...}  the form with each error under its field
    GET  partitions                    {"options", "message"}: as the form labels them
    GET  settings                      {"defaults", "locked", "launcher_tile", "bounds", "launcher"}
    GET  presets                       {"presets"}: the chooser (the site's, then the user's)
    POST presets          {"name", "fields": {field: value, ...}}  save the user's preset: 201
                                       {"launcher"} on it; 400 {"message", "field"}
    DELETE presets/<name>              delete the user's preset: 200 {"launcher"}; 404 none
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..desktops.presets import NAME_LENGTH
from ..desktops.request import InvalidRequest
from .panel import Desktops, FormInvalid, NotAllowed, NotFound

API_ROOT = "dcv-widget/api"
AUTH_RESOURCE = "dcv_widget"
# A launch or form body is a few short fields; anything larger is not one.
MAX_BODY = 16 * 1024
T = TypeVar("T")


class _ApiHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def desktops(self) -> Desktops:
        return cast(Desktops, self.settings["dcv_widget_desktops"])

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        """`work` on a worker thread (it may run a Slurm command), its refusals as HTTP's."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, work, *args)
        except NotFound as exc:
            raise web.HTTPError(404, "%s", str(exc)) from None
        except NotAllowed as exc:
            raise web.HTTPError(409, "%s", str(exc)) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """{"message": the refusal in words} (APIHandler's own leaves its arguments out)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = HTTPStatus(status_code).phrase
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args
        elif isinstance(exc, InvalidRequest):  # the site's settings (a preset, a bound): named
            message = f"{exc}. The site's dcv_widget settings need fixing: tell your admin"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def _fields(self) -> dict[str, Any]:
        """The request's JSON object of form fields ({} for an empty body)."""
        body = self.request.body
        if len(body) > MAX_BODY:
            raise web.HTTPError(413, "%s", "the request is too large for a launcher form")
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise web.HTTPError(400, "%s", "send the form's fields as a JSON object")
        return value

    def _reply(self, data: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))


class DesktopsHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self._reply(self.desktops.listing())

    @web.authenticated
    @authorized
    async def post(self) -> None:
        fields = self._fields()
        try:
            card = await self._call(self.desktops.launch, fields)
        except FormInvalid as exc:
            self._reply(
                {
                    "message": str(exc),
                    "field": exc.field,
                    "errors": exc.errors,
                    "launcher": exc.launcher,
                },
                400,
            )
            return
        self._reply({"card": card}, 201)


class DesktopActionHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def post(self, ident: str, action: str) -> None:
        act = {
            "end": self.desktops.end,
            "dismiss": self.desktops.dismiss,
            "check": self.desktops.check,
        }[action]
        await self._call(act, ident)
        self._reply({}, 202)


class RelaunchHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def post(self, ident: str) -> None:
        answer = await self._call(self.desktops.relaunch, ident)
        self._reply(answer, 201 if "card" in answer else 200)


class PresetsHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        launcher = await self._call(self.desktops.form, {})
        self._reply({"presets": launcher["presets"]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self._fields()
        raw = body.get("fields", {})
        if not isinstance(raw, dict):
            raise web.HTTPError(400, "%s", 'send the form\'s fields as "fields": {...}')
        try:
            launcher = await self._call(self.desktops.save_preset, str(body.get("name", "")), raw)
        except InvalidRequest as exc:
            self._reply({"message": str(exc), "field": exc.field}, 400)
            return
        self._reply({"launcher": launcher}, 201)


class PresetHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        self._reply({"launcher": await self._call(self.desktops.delete_preset, name)})


class ConnectHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def get(self, ident: str) -> None:
        self.set_header("Cache-Control", "no-store")
        self._reply({"path": await self._call(self.desktops.connect_path, ident)})


class FormHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        self._reply(await self._call(self.desktops.form, self._fields()))


class PartitionsHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self._reply(await self._call(self.desktops.partitions))


class SettingsHandler(_ApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self._reply(await self._call(self.desktops.settings))


_ID = r"([0-9a-f]{1,40})"
# A preset name as the route sees it, percent-encoded: up to 4 UTF-8 bytes a character, "%XX" each.
_NAME_IN_PATH = NAME_LENGTH * 12
HANDLERS = [
    ("desktops", DesktopsHandler),
    (f"desktops/{_ID}/(end|dismiss|check)", DesktopActionHandler),
    (f"desktops/{_ID}/connect", ConnectHandler),
    (f"desktops/{_ID}/relaunch", RelaunchHandler),
    ("presets", PresetsHandler),
    (f"presets/([^/]{{1,{_NAME_IN_PATH}}})", PresetHandler),
    ("form", FormHandler),
    ("partitions", PartitionsHandler),
    ("settings", SettingsHandler),
]
