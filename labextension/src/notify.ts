/**
 * Job events and walltime warnings as JupyterLab notifications, and as desktop
 * notifications too when the tab is hidden and the user allowed them.
 */

import { Notification } from '@jupyterlab/apputils';

import { desktopAllowed } from './live';
import type { JobEvent } from './types';

const KIND: Record<JobEvent['kind'], 'success' | 'info' | 'error'> = {
  started: 'info',
  ended: 'success',
  failed: 'error'
};

/** Tell the user, in Lab and (when the tab is hidden) on the desktop. */
export function tell(message: string, type: 'success' | 'info' | 'warning' | 'error', tag: string): void {
  Notification.emit(message, type, { autoClose: type === 'error' || type === 'warning' ? false : 8000 });
  if (document.visibilityState === 'hidden' && desktopAllowed()) {
    new window.Notification('Rivanna', { body: message, tag });
  }
}

/** A job event as a notification. */
export function tellJob(event: JobEvent): void {
  tell(event.message, KIND[event.kind], `rv-job-${event.job_id}-${event.kind}`);
}

/** Ask the browser for desktop notifications (a user's click must lead here). */
export async function allowDesktop(): Promise<string> {
  if (typeof window.Notification === 'undefined') {
    return 'This browser has no desktop notifications.';
  }
  const answer = await window.Notification.requestPermission();
  return answer === 'granted'
    ? 'Desktop notifications are on: job events reach you with this tab in the background.'
    : 'Desktop notifications stay off (the browser or you said no).';
}
