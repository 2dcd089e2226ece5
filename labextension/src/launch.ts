/**
 * The launcher's "Rivanna GPU kernel": a dialog for GPUs, type (with live free counts
 * and SU/h), time and memory that shows the allocator's plan and its cost before
 * anything is submitted, then opens a notebook on a kernel with those options.
 */

import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { explain } from './actions';
import { requestAPI, RvApiError } from './api';
import { h } from './dom';
import { sus, typeChoices } from './format';
import type { LiveView } from './live';

export interface LaunchValues {
  gpus: number;
  gpu_type: string;
  time: string;
  mem: string;
}

interface PlanRow {
  key: string;
  partition: string;
  gpu_label: string;
  topology: string;
  walltime: string;
  starts: string;
  immediate: boolean;
  sus: number | null;
}

interface PlanReply {
  strategies: PlanRow[];
  skipped: Record<string, string>;
  cost: { cheapest: number; dearest: number; account: string | null; balance: number | null };
  outlook: string | null;
}

class LaunchBody extends Widget {
  private readonly gpus = h('input', { type: 'number', min: 1, max: 16, value: 1, className: 'jp-mod-styled', 'aria-label': 'GPUs' });
  private readonly type = h('select', { className: 'jp-mod-styled', 'aria-label': 'GPU type' });
  private readonly time = h('input', { type: 'text', value: '2h', className: 'jp-mod-styled', 'aria-label': 'Time', placeholder: '2h, 90m, 1:30:00' });
  private readonly mem = h('input', { type: 'text', value: '', className: 'jp-mod-styled', 'aria-label': 'Memory', placeholder: 'default, or 64G' });
  private readonly planBox = h('div', { className: 'rv-plan', 'aria-live': 'polite' });
  private timer = 0;
  private asked = 0;

  constructor(live: LiveView) {
    super();
    this.addClass('rv-launch');
    for (const c of typeChoices(live.view?.gpus ?? [])) {
      this.type.append(h('option', { value: c.value }, c.label));
    }
    const field = (label: string, input: HTMLElement) => h('label', { className: 'rv-field' }, h('span', {}, label), input);
    this.node.append(
      h(
        'div',
        { className: 'rv-fields' },
        field('GPUs', this.gpus),
        field('Type', this.type),
        field('Time', this.time),
        field('Memory', this.mem)
      ),
      this.planBox
    );
    for (const input of [this.gpus, this.type, this.time, this.mem]) {
      input.addEventListener('input', () => this.replan());
      input.addEventListener('change', () => this.replan());
    }
    this.replan(0);
  }

  values(): LaunchValues {
    return { gpus: Number(this.gpus.value) || 1, gpu_type: this.type.value, time: this.time.value.trim(), mem: this.mem.value.trim() };
  }

  private replan(wait = 400): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.plan(), wait);
  }

  private async plan(): Promise<void> {
    const ask = ++this.asked;
    this.planBox.replaceChildren(h('div', { className: 'rv-detail' }, 'Asking Slurm what it would do…'));
    let reply: PlanReply;
    try {
      reply = await requestAPI<PlanReply>('launch/plan', { method: 'POST', body: JSON.stringify(this.values()) });
    } catch (err) {
      if (ask === this.asked) {
        const e = err as RvApiError;
        this.planBox.replaceChildren(h('div', { className: 'rv-why rv-plan-error' }, e.hint ? `${e.message} ${e.hint}` : e.message));
      }
      return;
    }
    if (ask !== this.asked) {
      return; // an older answer, for values since changed
    }
    const rows = reply.strategies.map(s =>
      h(
        'tr',
        {},
        h('td', {}, s.gpu_label),
        h('td', {}, s.topology),
        h('td', {}, s.partition),
        h('td', {}, s.walltime),
        h('td', { className: s.immediate ? 'rv-now' : '' }, s.starts),
        h('td', { className: 'rv-num' }, sus(s.sus))
      )
    );
    const head = h('tr', {}, ...['GPU', 'Shape', 'Partition', 'Time', 'Starts', 'SUs'].map(t => h('th', {}, t)));
    const cost = reply.cost;
    const costLine =
      `Cost: ${sus(cost.cheapest)}` +
      (cost.dearest !== cost.cheapest ? `–${sus(cost.dearest)}` : '') +
      ' SUs for the whole time' +
      (cost.balance !== null ? ` (${cost.account}: ${sus(cost.balance)} left)` : '');
    const skipped = Object.entries(reply.skipped).map(([k, why]) => h('li', {}, `${k}: ${why}`));
    this.planBox.replaceChildren(
      h(
        'div',
        { className: 'rv-detail' },
        reply.strategies.length === 1
          ? 'The allocator would submit this one strategy.'
          : `The allocator would submit ${reply.strategies.length} strategies at once; the first to run wins, the others are cancelled.`
      ),
      h('table', { className: 'rv-plan-table' }, h('thead', {}, head), h('tbody', {}, ...rows)),
      h('div', {}, costLine),
      reply.outlook ? h('div', { className: 'rv-detail' }, reply.outlook) : '',
      skipped.length ? h('details', {}, h('summary', {}, `Left out (${skipped.length})`), h('ul', {}, ...skipped)) : ''
    );
  }
}

/** Ask for the options, then open a notebook on a Rivanna kernel with them. */
export async function launchKernel(live: LiveView, openNotebook: (kernelName: string) => Promise<unknown>): Promise<void> {
  const body = new LaunchBody(live);
  const answer = await showDialog({
    title: 'Rivanna GPU kernel',
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Start' })],
    focusNodeSelector: 'input'
  });
  if (!answer.button.accept) {
    return;
  }
  const values = body.values();
  try {
    const spec = await requestAPI<{ name: string }>('launch/kernelspec', { method: 'POST', body: JSON.stringify(values) });
    await openNotebook(spec.name);
  } catch (err) {
    await showErrorMessage('No Rivanna kernel started', explain(err));
  }
}
