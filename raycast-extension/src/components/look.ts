// How states look, in one place: each session state and the menu-bar status get one icon and one colour.
import { Color, Icon, type Image } from '@raycast/api';
import type { MenuBarStatus, SessionState } from '../lib/model';

export function sessionStateIcon(state: SessionState): Image.ImageLike {
  switch (state) {
    case 'logged-in':
      return { source: Icon.CheckCircle, tintColor: Color.Green };
    case 'recovering':
      return { source: Icon.ArrowClockwise, tintColor: Color.Orange };
    case 'logging-in':
      return { source: Icon.Clock, tintColor: Color.Yellow };
    case 'failed':
      return { source: Icon.XMarkCircle, tintColor: Color.Red };
    case 'logged-out':
      return { source: Icon.Circle, tintColor: Color.SecondaryText };
  }
}

/** The words a person reads for a state (the daemon's names are for programs). */
export function sessionStateLabel(state: SessionState): string {
  switch (state) {
    case 'logged-in':
      return 'Connected';
    case 'recovering':
      return 'Reconnecting';
    case 'logging-in':
      return 'Logging in';
    case 'failed':
      return 'Failed';
    case 'logged-out':
      return 'Logged out';
  }
}

export function menuBarIcon(status: MenuBarStatus): Image.ImageLike {
  switch (status) {
    case 'all-up':
      return { source: Icon.HardDrive, tintColor: Color.Green };
    case 'some-down':
      return { source: Icon.HardDrive, tintColor: Color.Red };
    case 'recovering':
      return { source: Icon.HardDrive, tintColor: Color.Orange };
    case 'idle':
      return { source: Icon.HardDrive };
  }
}

export function menuBarTooltip(status: MenuBarStatus): string {
  switch (status) {
    case 'all-up':
      return 'iSCSI: every automatic target is connected';
    case 'some-down':
      return 'iSCSI: some automatic targets are not connected';
    case 'recovering':
      return 'iSCSI: reconnecting';
    case 'idle':
      return 'iSCSI: no automatic targets';
  }
}
