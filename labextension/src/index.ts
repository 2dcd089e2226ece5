/**
 * rv-jupyter's JupyterLab extension: the Rivanna sidebar, over the REST API and the live
 * feed of rv-jupyter's server extension.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { LiveView } from './live';
import { RivannaSidebar } from './sidebar';

// A GPU card: a board with a fan and its edge connector.
const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
<g class="jp-icon3" fill="#616161"><path d="M2 6h18a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H8v2H5v-2H2z
M4 8v8h16V8zm8 1.5a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5zm5 0h2v5h-2z"/></g></svg>`;

export const rivannaIcon = new LabIcon({ name: 'rv-jupyter:rivanna', svgstr: ICON_SVG });

const COMMANDS = {
  show: 'rv:show-sidebar',
  refresh: 'rv:refresh'
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'rv-jupyter:sidebar',
  description: 'Rivanna in JupyterLab: your jobs, GPUs, SUs and storage, live.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, shell: ILabShell, palette: ICommandPalette | null) => {
    const live = new LiveView();
    const sidebar = new RivannaSidebar(live);
    sidebar.title.icon = rivannaIcon;
    shell.add(sidebar, 'left', { rank: 950, type: 'Rivanna' });

    app.commands.addCommand(COMMANDS.show, {
      label: 'Rivanna: Show Jobs and GPUs',
      execute: () => shell.activateById(sidebar.id)
    });
    app.commands.addCommand(COMMANDS.refresh, {
      label: 'Rivanna: Reconnect the Live Feed',
      execute: () => live.restart()
    });
    for (const command of Object.values(COMMANDS)) {
      palette?.addItem({ command, category: 'Rivanna' });
    }
  }
};

export default plugin;
