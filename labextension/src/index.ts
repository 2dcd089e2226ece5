/**
 * rv-jupyter's JupyterLab extension: the Rivanna sidebar, over the REST API and the live
 * feed of rv-jupyter's server extension.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ILauncher } from '@jupyterlab/launcher';
import { IRunningSessionManagers } from '@jupyterlab/running';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { jobPage } from './jobpage';
import { launchKernel } from './launch';
import { runningJobs } from './running';
import { askWhenJobsEnd, KernelBadge, WalltimeStatus, warnBeforeWalltime } from './kernelbar';
import { LiveView } from './live';
import { allowDesktop, tell, tellJob } from './notify';
import { RivannaSidebar } from './sidebar';

// A GPU card: a board with a fan and its edge connector.
const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
<g class="jp-icon3" fill="#616161"><path d="M2 6h18a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H8v2H5v-2H2z
M4 8v8h16V8zm8 1.5a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5zm5 0h2v5h-2z"/></g></svg>`;

export const rivannaIcon = new LabIcon({ name: 'rv-jupyter:rivanna', svgstr: ICON_SVG });

const COMMANDS = {
  show: 'rv:show-sidebar',
  refresh: 'rv:refresh',
  desktop: 'rv:desktop-notifications',
  openJob: 'rv:open-job',
  launch: 'rv:launch-gpu-kernel'
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'rv-jupyter:sidebar',
  description: 'Rivanna in JupyterLab: your jobs, GPUs, SUs and storage, live.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, INotebookTracker, IStatusBar, ILauncher, IRunningSessionManagers],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    statusBar: IStatusBar | null,
    launcher: ILauncher | null,
    running: IRunningSessionManagers | null
  ) => {
    const live = new LiveView();
    app.commands.addCommand(COMMANDS.openJob, {
      label: args => (args.jobId ? `Rivanna: Open Job ${args.jobId}` : 'Rivanna: Open a Job Page…'),
      execute: async args => {
        let jobId = args.jobId as string | undefined;
        if (!jobId) {
          const ids = (live.view?.jobs ?? []).map(j => j.job_id);
          const got = await InputDialog.getItem({ title: 'Open the page of job', items: ids });
          jobId = got.value ?? undefined;
        }
        if (!jobId) {
          return;
        }
        const id = `rv-job-${jobId}`;
        const open = Array.from(shell.widgets('main')).find(w => w.id === id);
        if (open) {
          shell.activateById(id);
          return;
        }
        shell.add(jobPage(jobId, live), 'main');
        shell.activateById(id);
      }
    });
    app.commands.addCommand(COMMANDS.launch, {
      label: args => (args.isLauncher ? 'Rivanna GPU kernel' : 'Rivanna: New Notebook on a GPU Kernel…'),
      caption: 'A notebook whose kernel runs in a Slurm job on Rivanna GPUs: see the plan and cost first',
      icon: args => (args.isPalette ? undefined : rivannaIcon),
      execute: () =>
        launchKernel(live, async kernelName => {
          await app.serviceManager.kernelspecs.refreshSpecs();
          return app.commands.execute('notebook:create-new', { kernelName });
        })
    });
    // A Notebook card shows `kernelIconUrl`, not the command's icon.
    const kernelIconUrl = `data:image/svg+xml;base64,${btoa(ICON_SVG)}`;
    launcher?.add({ command: COMMANDS.launch, category: 'Notebook', rank: 0, args: { isLauncher: true, kernelIconUrl } });
    running?.add(runningJobs(live, rivannaIcon, jobId => void app.commands.execute(COMMANDS.openJob, { jobId })));
    const sidebar = new RivannaSidebar(live, jobId => void app.commands.execute(COMMANDS.openJob, { jobId }));
    sidebar.title.icon = rivannaIcon;
    shell.add(sidebar, 'left', { rank: 950, type: 'Rivanna' });

    app.commands.addCommand(COMMANDS.show, {
      label: 'Rivanna: Show Jobs and GPUs',
      execute: () => shell.activateById(sidebar.id)
    });
    app.commands.addCommand(COMMANDS.desktop, {
      label: 'Rivanna: Allow Desktop Notifications',
      execute: async () => tell(await allowDesktop(), 'info', 'rv-desktop')
    });
    live.jobEvent.connect((_, event) => tellJob(event));
    warnBeforeWalltime(live, message => tell(message, 'warning', 'rv-walltime'));
    app.commands.addCommand(COMMANDS.refresh, {
      label: 'Rivanna: Reconnect the Live Feed',
      execute: () => live.restart()
    });
    for (const command of Object.values(COMMANDS)) {
      palette?.addItem({ command, category: 'Rivanna' });
    }
    if (notebooks) {
      const badge = (panel: NotebookPanel) =>
        // Once revealed: the toolbar's own items come from settings. Before the spacer,
        // so a narrow toolbar folds the kernel's name away before the badge.
        void panel.revealed.then(() => {
          const item = new KernelBadge(panel, live);
          if (!panel.toolbar.insertBefore('spacer', 'rv-kernel', item)) {
            panel.toolbar.addItem('rv-kernel', item);
          }
        });
      notebooks.forEach(badge);
      notebooks.widgetAdded.connect((_, panel) => badge(panel));
      askWhenJobsEnd(app, notebooks, live);
      if (statusBar) {
        const walltime = new WalltimeStatus(notebooks, live, jobId =>
          jobId ? void app.commands.execute(COMMANDS.openJob, { jobId }) : shell.activateById(sidebar.id)
        );
        statusBar.registerStatusItem('rv-jupyter:walltime', {
          item: walltime,
          align: 'left',
          rank: 4,
          isActive: () => walltime.active,
          activeStateChanged: walltime.activeChanged
        });
      }
    }
  }
};

export default plugin;
