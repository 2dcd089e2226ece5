/** What the UI asks the server to do to a job, the same from every face. */

import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';

import { requestAPI, RvApiError } from './api';

/** Words for a failed call: the server's message and what to do. */
export function explain(err: unknown): string {
  const e = err as RvApiError;
  return e.hint ? `${e.message} ${e.hint}` : e.message;
}

/**
 * Cancel job `jobId` (`what` describes it in the question); asks first unless `ask`
 * is false (a "cancel all" the user has confirmed already). True if it was cancelled.
 */
export async function cancelJob(jobId: string, what: string, ask = true): Promise<boolean> {
  if (ask) {
    const answer = await showDialog({
      title: `Cancel job ${jobId}?`,
      body: `${what} ends now; whatever it has not saved is lost.`,
      buttons: [Dialog.cancelButton({ label: 'Keep it' }), Dialog.warnButton({ label: 'Cancel job' })]
    });
    if (!answer.button.accept) {
      return false;
    }
  }
  try {
    await requestAPI(`jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST' });
    return true;
  } catch (err) {
    await showErrorMessage(`Job ${jobId} was not cancelled`, explain(err));
    return false;
  }
}
