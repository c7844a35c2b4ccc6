import { Application, IPlugin } from '@lumino/application';
import { Widget } from '@lumino/widgets';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { useMainArea } from './lab-tab';
import { configureNotifications, NotifySettings } from './notify';
import { desktopsPlugin } from './sidebar';
import * as widgetExports from './widget';
import { MODULE_NAME, MODULE_VERSION } from './version';

/**
 * Registers the Desktop model and view with the widget manager (JupyterLab 4, Notebook 7), and
 * reads the user's notification settings (schema/plugin.json) for every view of the page.
 */
const plugin: IPlugin<Application<Widget>, void> = {
  id: 'dcv-widget:plugin',
  description: 'Remote desktops on a Slurm cluster from a notebook cell',
  requires: [IJupyterWidgetRegistry],
  optional: [ISettingRegistry],
  autoStart: true,
  activate: (app: Application<Widget>, registry: IJupyterWidgetRegistry, settings: ISettingRegistry | null): void => {
    useMainArea((app as { name?: string }).name ?? '', app.shell);
    settings?.load(plugin.id).then(
      (loaded) => {
        const apply = (): void => configureNotifications(loaded.composite as Partial<NotifySettings>);
        apply();
        loaded.changed.connect(apply);
      },
      (error: unknown) => console.warn('dcv-widget: notification settings not read; using the defaults', error),
    );
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: widgetExports,
    });
  },
};

export default [plugin, desktopsPlugin];
