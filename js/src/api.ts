/**
 * The Desktops panel's client of the Jupyter server's REST API (dcv_widget/server/rest.py).
 * Requests go through JupyterLab's ServerConnection, which adds Jupyter's login (token or
 * cookie) and the XSRF token that the server requires on writes.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { nowSeconds, ServerClock } from './time';
import { Card, FieldValue, Launcher, toCards, toLauncher } from './types';

const ROOT = 'dcv-widget/api';

export type FormValues = Record<string, FieldValue>;

/** What the server starts the form from (c.DesktopSettings). */
export interface PanelSettings {
  launcher: Launcher | null;
  /** What the Launcher tile does: launch with these defaults, or open the panel's form. */
  launcherTile: 'launch' | 'form';
}

/** A refusal or a failure, in words for the panel; `launcher`: the form with the errors shown. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly launcher: Launcher | null = null,
  ) {
    super(message);
  }
}

export class DesktopsApi {
  private readonly settings = ServerConnection.makeSettings();
  private etag = '';

  /**
   * The desktops as cards, or null when they did not change since the last answer (304). Every
   * answer, a 304 too, carries the server's time in its Date header (to the second, truncated:
   * taken as mid-second): `clock` learns it, the clock the cards' times are on.
   */
  async desktops(clock?: ServerClock): Promise<Card[] | null> {
    const sentAt = nowSeconds();
    const response = await this.request('GET', 'desktops', undefined, this.etag ? { 'If-None-Match': this.etag } : {});
    const date = Date.parse(response.headers.get('Date') ?? '');
    if (clock && !Number.isNaN(date)) {
      clock.measure(date / 1000 + 0.5, sentAt, nowSeconds());
    }
    if (response.status === 304) {
      return null;
    }
    const body = await this.json(response);
    this.etag = response.headers.get('Etag') ?? '';
    return toCards(body.cards);
  }

  /** Submits a desktop; its card (being submitted). */
  async launch(values: FormValues): Promise<Card> {
    const body = await this.json(await this.request('POST', 'desktops', values));
    return toCards([body.card])[0];
  }

  /**
   * Launch again: the new desktop's card, or the form to open (its values, the field to change
   * marked) when the old one's end says what to change or its options are not all known.
   */
  async relaunch(key: string): Promise<{ card: Card } | { values: FormValues; launcher: Launcher | null }> {
    const body = await this.json(await this.request('POST', `desktops/${encodeURIComponent(key)}/relaunch`, {}));
    if (body.card) {
      return { card: toCards([body.card])[0] };
    }
    const values: FormValues = {};
    for (const [name, value] of Object.entries(body.values ?? {})) {
      values[name] = typeof value === 'number' ? value : value === null || value === undefined ? '' : String(value);
    }
    return { values, launcher: toLauncher(body.launcher) };
  }

  /** Saves the form's values as the user's preset `name`; the form, on it now. */
  async savePreset(name: string, values: FormValues): Promise<Launcher | null> {
    const body = await this.json(await this.request('POST', 'presets', { name, fields: values }));
    return toLauncher(body.launcher);
  }

  /** Deletes the user's preset `name`; the form, on Custom. */
  async deletePreset(name: string): Promise<Launcher | null> {
    const body = await this.json(await this.request('DELETE', `presets/${encodeURIComponent(name)}`));
    return toLauncher(body.launcher);
  }

  async act(key: string, action: 'end' | 'dismiss' | 'check'): Promise<void> {
    await this.json(await this.request('POST', `desktops/${encodeURIComponent(key)}/${action}`, {}));
  }

  /** The proxy's entry path of a ready desktop, relative to the base URL (no secret in it). */
  async connectPath(key: string): Promise<string> {
    const body = await this.json(await this.request('GET', `desktops/${encodeURIComponent(key)}/connect`));
    return String(body.path ?? '');
  }

  /** The form for these values, each error under its field (the server's check, as the kernel's). */
  async form(values: FormValues): Promise<Launcher | null> {
    return toLauncher(await this.json(await this.request('POST', 'form', values)));
  }

  async panelSettings(): Promise<PanelSettings> {
    const body = await this.json(await this.request('GET', 'settings'));
    return { launcher: toLauncher(body.launcher), launcherTile: body.launcher_tile === 'form' ? 'form' : 'launch' };
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const url = URLExt.join(this.settings.baseUrl, ROOT, path);
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
    try {
      return await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(
        `The Jupyter server did not answer (${String(error)}): check that it still runs, then try again.`,
        0,
      );
    }
  }

  /** The answer's JSON; an error status becomes an ApiError with the server's words. */
  private async json(response: Response): Promise<Record<string, unknown>> {
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = await response.json();
      if (parsed !== null && typeof parsed === 'object') {
        body = parsed as Record<string, unknown>;
      }
    } catch {
      // an empty or non-JSON answer: its status says enough
    }
    if (!response.ok) {
      const words = typeof body.message === 'string' && body.message ? body.message : response.statusText;
      const hint =
        response.status === 403
          ? ' Reload the page (your Jupyter login may have expired).'
          : response.status === 404 && !body.message
            ? " The Jupyter server does not run dcv_widget's server extension: ask your admin to enable it."
            : '';
      throw new ApiError(`${words}${hint}`, response.status, body.launcher ? toLauncher(body.launcher) : null);
    }
    return body;
  }
}
