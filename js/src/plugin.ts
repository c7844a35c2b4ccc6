import { Application, IPlugin } from '@lumino/application';
import { Widget } from '@lumino/widgets';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { useMainArea } from './lab-tab';
import { desktopsPlugin } from './sidebar';
import * as widgetExports from './widget';
import { MODULE_NAME, MODULE_VERSION } from './version';

/** Registers the Desktop model and view with the widget manager (JupyterLab 4, Notebook 7). */
const plugin: IPlugin<Application<Widget>, void> = {
  id: 'dcv-widget:plugin',
  description: 'Remote desktops on a Slurm cluster from a notebook cell',
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (app: Application<Widget>, registry: IJupyterWidgetRegistry): void => {
    useMainArea((app as { name?: string }).name ?? '', app.shell);
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: widgetExports,
    });
  },
};

export default [plugin, desktopsPlugin];
