import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { LabIcon } from '@jupyterlab/ui-components';
import type { IDisposable } from '@lumino/disposable';

import { DesktopsApi } from './api';
import { useMainArea } from './lab-tab';
import { DesktopsPanel } from './panel';
import { Card } from './types';

/** A screen on a stand: the panel's tab, the Launcher tile and the commands (theme colours). */
export const desktopIcon = new LabIcon({
  name: 'dcv-widget:desktop',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M3 4h18a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1h-7v2h3v2H7v-2h3v-2H3a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1zm1 2v9h16V6z"/>' +
    '</g></svg>',
});

export const COMMANDS = {
  launch: 'dcv-widget:launch',
  open: 'dcv-widget:open',
  end: 'dcv-widget:end',
  show: 'dcv-widget:show-panel',
} as const;

/**
 * Desktops without a notebook: the Desktops panel in the left sidebar, the Desktop tile in the
 * Launcher, and the palette's "Launch desktop", "Open desktop <job>" and "End desktop <job>".
 * Notebook 7 has no Launcher: there the panel sits in a notebook page's left sidebar (View,
 * Left Sidebar, Show Desktops on the cluster), and Connect opens a browser tab.
 */
export const desktopsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'dcv-widget:desktops-panel',
  description: 'The Desktops panel in the left sidebar, a Launcher tile and palette commands',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
  ): void => {
    useMainArea(app.name, app.shell); // desktops open in Lab tabs, without any widget too
    const api = new DesktopsApi();
    const panel = new DesktopsPanel(api);
    panel.title.icon = desktopIcon;
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, panel.id);
    let tile: 'launch' | 'form' = 'launch';
    api.panelSettings().then(
      (settings) => (tile = settings.launcherTile),
      () => undefined, // the panel says what is wrong once shown
    );

    const byJob = (args: Record<string, unknown>): Card | undefined => panel.find(String(args.job ?? ''));
    app.commands.addCommand(COMMANDS.show, {
      label: 'Show Desktops panel',
      icon: desktopIcon,
      execute: () => app.shell.activateById(panel.id),
    });
    app.commands.addCommand(COMMANDS.launch, {
      label: (args) => (args.isLauncher ? 'Desktop' : 'Launch desktop'),
      caption: 'A remote desktop on the cluster, as a Slurm job; it opens in a tab once ready',
      icon: desktopIcon,
      execute: async () => {
        app.shell.activateById(panel.id);
        if (tile === 'form') {
          panel.focusForm();
          return;
        }
        try {
          await panel.connect(await panel.launchDefaults());
        } catch (error) {
          Notification.error(error instanceof Error ? error.message : String(error), { autoClose: false });
        }
      },
    });
    app.commands.addCommand(COMMANDS.open, {
      label: (args) => `Open desktop ${String(args.job ?? '')}`,
      icon: desktopIcon,
      isEnabled: (args) => byJob(args)?.actions.includes('connect') ?? false,
      execute: (args) => {
        const card = byJob(args);
        return card ? panel.connect(card) : undefined;
      },
    });
    app.commands.addCommand(COMMANDS.end, {
      label: (args) => `End desktop ${String(args.job ?? '')}`,
      isEnabled: (args) => byJob(args)?.actions.includes('end') ?? false,
      execute: (args) => {
        const card = byJob(args);
        return card ? panel.end(card) : undefined;
      },
    });

    launcher?.add({ command: COMMANDS.launch, category: 'Other', rank: 50, args: { isLauncher: true } });
    if (palette) {
      const category = 'Desktops';
      palette.addItem({ command: COMMANDS.launch, category });
      palette.addItem({ command: COMMANDS.show, category });
      // One "Open desktop <job>" per ready desktop and one "End desktop <job>" per live one.
      const items = new Map<string, IDisposable>();
      panel.onCards = (cards) => {
        const wanted = new Map<string, { command: string; job: string }>();
        for (const card of cards.filter((c) => c.job_id)) {
          if (card.actions.includes('connect')) {
            wanted.set(`open ${card.job_id}`, { command: COMMANDS.open, job: card.job_id });
          }
          if (card.actions.includes('end')) {
            wanted.set(`end ${card.job_id}`, { command: COMMANDS.end, job: card.job_id });
          }
        }
        for (const [name, item] of items) {
          if (!wanted.has(name)) {
            item.dispose();
            items.delete(name);
          }
        }
        for (const [name, { command, job }] of wanted) {
          if (!items.has(name)) {
            items.set(name, palette.addItem({ command, category, args: { job } }));
          }
        }
      };
    }
  },
};
