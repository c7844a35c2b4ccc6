import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

/** The part of JupyterLab's shell a desktop tab needs (ILabShell has both). */
interface MainArea {
  add(widget: Widget, area?: string, options?: { activate?: boolean }): void;
  activateById(id: string): void;
}

let mainArea: MainArea | null = null;
/** Open desktop tabs by URL without its query (the display choice): one tab per desktop. */
const tabs = new Map<string, { tab: Widget; frame: HTMLIFrameElement }>();

/**
 * Called once by the plugin: JupyterLab's shell, where desktops open in tabs. Notebook 7's shell
 * has one main widget per browser tab, so there a desktop opens in a browser tab instead.
 */
export function useMainArea(appName: string, shell: unknown): void {
  const candidate = shell as Partial<MainArea> | null;
  if (appName === 'JupyterLab' && typeof candidate?.add === 'function' && typeof candidate.activateById === 'function') {
    mainArea = candidate as MainArea;
  }
}

/**
 * Open `url` (same origin: the Jupyter server's desktop proxy) in a JupyterLab main-area tab, or
 * bring its tab forward, reloaded if the display choice in its query changed (noVNC reconnects
 * with it); false where there is no JupyterLab shell. The iframe may use the clipboard and full
 * screen; pointer lock needs no permission in an iframe without a sandbox.
 */
export function openInLab(url: string, title: string): boolean {
  if (mainArea === null) {
    return false;
  }
  const desktop = url.split('?')[0];
  const known = tabs.get(desktop);
  if (known && !known.tab.isDisposed) {
    if (known.frame.src !== new URL(url, document.baseURI).href) {
      known.frame.src = url;
    }
    mainArea.activateById(known.tab.id);
    return true;
  }
  const tab = new Widget();
  tab.id = `dcv-desktop-${tabs.size}-${Date.now().toString(36)}`;
  tab.title.label = title;
  tab.title.caption = `${title} (through JupyterLab)`;
  tab.title.closable = true;
  tab.addClass('dcv-desktop-tab');
  const frame = document.createElement('iframe');
  frame.src = url;
  frame.title = title;
  frame.allow = 'clipboard-read; clipboard-write; fullscreen';
  frame.setAttribute('allowfullscreen', '');
  tab.node.append(frame);
  tab.disposed.connect(() => tabs.delete(desktop));
  tabs.set(desktop, { tab, frame });
  mainArea.add(tab, 'main', { activate: true });
  mainArea.activateById(tab.id);
  return true;
}

/**
 * Connect through JupyterLab (the jupyter route): `path` is the proxy's entry relative to the base
 * URL, where the Jupyter server finds the desktop from the job id and adds what it needs, so no
 * kernel is asked. A Lab tab, or a browser tab when asked for (↗) or where there is no Lab shell.
 */
export function openThroughJupyter(path: string, title: string, browserTab = false): void {
  const url = URLExt.join(PageConfig.getBaseUrl(), path);
  if (browserTab || !openInLab(url, title)) {
    window.open(url, '_blank', 'noopener');
  }
}
