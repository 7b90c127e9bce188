// A test stand-in for `@raycast/api`, and only for it: Raycast itself does not run on Linux, so the views render here
// through Ink into text, one line per Raycast element, and the toasts, HUDs, alerts, navigation and launches they ask
// for are recorded. Everything else the views use (React, the extension's own modules) is the real thing. Each view
// test replaces the module with `vi.mock('@raycast/api', () => import('./raycast-stand-in'))`.
import { EventEmitter } from 'node:events';
import { Box, render as inkRender, Text } from 'ink';
import { type ReactNode, createElement } from 'react';

type Props = Record<string, unknown> & { children?: ReactNode };

/** What the views asked Raycast for, in order; tests read and reset it. */
export const recorded = {
  toasts: [] as Array<{ style: string; title: string; message?: string }>,
  huds: [] as string[],
  alerts: [] as Array<{ title: string; message?: string }>,
  pushed: [] as ReactNode[],
  popped: 0,
  launches: [] as Array<{ name: string }>,
  /** Answers for the next confirmAlert calls (true = the primary action); an empty queue answers true. */
  alertAnswers: [] as boolean[],
  /** Every action rendered in the last frame, by title: tests "press" one with press(title). */
  actions: new Map<string, () => unknown>(),
  preferences: { socketPath: '/var/run/iscsid.sock' } as Record<string, unknown>,
};

export function resetRecorded(): void {
  recorded.toasts = [];
  recorded.huds = [];
  recorded.alerts = [];
  recorded.pushed = [];
  recorded.popped = 0;
  recorded.launches = [];
  recorded.alertAnswers = [];
  recorded.actions.clear();
}

// ---- how a Raycast element becomes a line of text -------------------------------------------------------------

function iconText(icon: unknown): string {
  if (icon === undefined || icon === null) return '';
  if (typeof icon === 'string') return `icon=${icon}`;
  const i = icon as { source?: unknown; tintColor?: unknown };
  return `icon=${String(i.source)}${i.tintColor ? `/${String(i.tintColor)}` : ''}`;
}

function accessoryText(a: Record<string, unknown>): string {
  const tag = a['tag'] as { value?: unknown } | string | undefined;
  const parts = [
    a['text'] !== undefined
      ? String(typeof a['text'] === 'object' ? (a['text'] as { value: unknown }).value : a['text'])
      : '',
    tag === undefined ? '' : `#${typeof tag === 'object' ? String(tag.value) : tag}`,
    a['icon'] !== undefined ? iconText(a['icon']) : '',
  ];
  return parts.filter(Boolean).join(' ');
}

function line(depth: number, text: string, children?: ReactNode) {
  return (
    <Box flexDirection="column">
      <Text>{'  '.repeat(depth) + text}</Text>
      {children}
    </Box>
  );
}

function join(...parts: Array<string | undefined | false>): string {
  return parts.filter((p) => typeof p === 'string' && p !== '').join(' | ');
}

function registerAction(title: string, run: () => unknown): void {
  recorded.actions.set(title, run);
}

// ---- List ------------------------------------------------------------------------------------------------------

function ListView({ isLoading, searchBarPlaceholder, navigationTitle, children }: Props) {
  return line(
    0,
    join(
      'List',
      isLoading ? '[loading]' : '',
      navigationTitle as string,
      searchBarPlaceholder ? `search: ${String(searchBarPlaceholder)}` : '',
    ),
    children,
  );
}
function ListSection({ title, subtitle, children }: Props) {
  return line(1, join(`§ ${String(title ?? '')}`, subtitle as string), children);
}
function ListItem({ title, subtitle, icon, accessories, actions }: Props) {
  const acc = ((accessories as Array<Record<string, unknown>> | undefined) ?? []).map(accessoryText).filter(Boolean);
  return line(
    2,
    join(`• ${String(title)}`, subtitle as string, iconText(icon), acc.length ? `[${acc.join(', ')}]` : ''),
    actions as ReactNode,
  );
}
function ListEmptyView({ title, description, actions }: Props) {
  return line(1, join(`(empty) ${String(title)}`, description as string), actions as ReactNode);
}
export const List = Object.assign(ListView, { Section: ListSection, Item: ListItem, EmptyView: ListEmptyView });

// ---- Detail ----------------------------------------------------------------------------------------------------

function DetailView({ markdown, isLoading, navigationTitle, actions }: Props) {
  return line(
    0,
    join('Detail', isLoading ? '[loading]' : '', navigationTitle as string),
    <Box flexDirection="column">
      {String(markdown ?? '')
        .split('\n')
        .map((l, i) => (
          <Text key={i}>{'  ' + l}</Text>
        ))}
      {actions as ReactNode}
    </Box>,
  );
}
export const Detail = Object.assign(DetailView, { Metadata: () => null });

// ---- Form ------------------------------------------------------------------------------------------------------

function FormView({ isLoading, navigationTitle, actions, children }: Props) {
  return line(
    0,
    join('Form', isLoading ? '[loading]' : '', navigationTitle as string),
    <Box flexDirection="column">
      {children}
      {actions as ReactNode}
    </Box>,
  );
}
const field = (kind: string) =>
  function Field({ id, title, label, placeholder, defaultValue, value, error }: Props) {
    return line(
      1,
      join(
        `[${kind} ${String(id)}] ${String(title ?? label ?? '')}`,
        placeholder ? `placeholder: ${String(placeholder)}` : '',
        defaultValue !== undefined && defaultValue !== '' ? `value: ${String(defaultValue)}` : '',
        value !== undefined ? `value: ${String(value)}` : '',
        error ? `error: ${String(error)}` : '',
      ),
    );
  };
function FormDescription({ title, text }: Props) {
  return line(1, join(`[text] ${String(title ?? '')}`, String(text).replace(/\n/g, ' / ')));
}
export const Form = Object.assign(FormView, {
  TextField: field('field'),
  PasswordField: field('password'),
  Checkbox: field('checkbox'),
  TextArea: field('textarea'),
  Description: FormDescription,
  Separator: () => null,
});

// ---- Actions ---------------------------------------------------------------------------------------------------

function ActionPanelView({ children }: Props) {
  return <Box flexDirection="column">{children}</Box>;
}
export const ActionPanel = Object.assign(ActionPanelView, { Section: ActionPanelView, Submenu: ActionPanelView });

function actionLine(title: string, detail: string, run: () => unknown, style?: unknown) {
  registerAction(title, run);
  return line(3, join(`> ${title}`, detail, style === 'destructive' ? '(destructive)' : ''));
}
function ActionView({ title, onAction, style }: Props) {
  return actionLine(String(title), '', () => (onAction as () => unknown)?.(), style);
}
function PushAction({ title, target }: Props) {
  return actionLine(String(title), 'push', () => recorded.pushed.push(target as ReactNode));
}
function CopyAction({ title, content }: Props) {
  return actionLine(String(title ?? 'Copy to Clipboard'), `copy: ${String(content)}`, () => undefined);
}
function ShowInFinderAction({ title, path }: Props) {
  return actionLine(String(title ?? 'Show in Finder'), `finder: ${String(path)}`, () => undefined);
}
function OpenAction({ title, target }: Props) {
  return actionLine(String(title), `open: ${String(target)}`, () => undefined);
}
/** A submitted form hands the action its values: tests press it with the values a user would have typed. */
function SubmitFormAction({ title, onSubmit }: Props) {
  registerAction(String(title), () => undefined);
  recorded.actions.set(`submit:${String(title)}`, onSubmit as () => unknown);
  return line(3, `> ${String(title)} | submit`);
}
export const Action = Object.assign(ActionView, {
  Push: PushAction,
  CopyToClipboard: CopyAction,
  ShowInFinder: ShowInFinderAction,
  Open: OpenAction,
  SubmitForm: SubmitFormAction,
  Style: { Regular: 'regular', Destructive: 'destructive' },
});

// ---- Menu bar --------------------------------------------------------------------------------------------------

function MenuBarView({ icon, title, tooltip, isLoading, children }: Props) {
  return line(
    0,
    join(
      'MenuBar',
      isLoading ? '[loading]' : '',
      iconText(icon),
      title as string,
      tooltip ? `tooltip: ${String(tooltip)}` : '',
    ),
    children,
  );
}
function MenuBarItem({ title, subtitle, icon, onAction }: Props) {
  if (onAction) registerAction(String(title), onAction as () => unknown);
  return line(2, join(`- ${String(title)}`, subtitle as string, iconText(icon), onAction ? '' : '(disabled)'));
}
function MenuBarSection({ title, children }: Props) {
  return line(1, `## ${String(title ?? '')}`, children);
}
export const MenuBarExtra = Object.assign(MenuBarView, {
  Item: MenuBarItem,
  Section: MenuBarSection,
  Separator: () => null,
});

// ---- Everything else the views use -----------------------------------------------------------------------------

/** Raycast's icons by name: the stand-in's value is the name itself. */
export const Icon = new Proxy({} as Record<string, string>, { get: (_t, name) => String(name) });
export const Color = {
  Green: 'green',
  Red: 'red',
  Orange: 'orange',
  Yellow: 'yellow',
  Blue: 'blue',
  SecondaryText: 'secondary',
  PrimaryText: 'primary',
  Purple: 'purple',
  Magenta: 'magenta',
};

export class Toast {
  static Style = { Animated: 'animated', Success: 'success', Failure: 'failure' };
  private readonly entry: { style: string; title: string; message?: string };
  constructor(options: { style: string; title: string; message?: string }) {
    this.entry = { ...options };
    recorded.toasts.push(this.entry);
  }
  get style() {
    return this.entry.style;
  }
  set style(s: string) {
    this.entry.style = s;
  }
  get title() {
    return this.entry.title;
  }
  set title(t: string) {
    this.entry.title = t;
  }
  get message() {
    return this.entry.message;
  }
  set message(m: string | undefined) {
    this.entry.message = m;
  }
  async hide(): Promise<void> {}
}
export async function showToast(options: { style: string; title: string; message?: string }): Promise<Toast> {
  return new Toast(options);
}
export async function showHUD(title: string): Promise<void> {
  recorded.huds.push(title);
}
export const Alert = { ActionStyle: { Default: 'default', Destructive: 'destructive', Cancel: 'cancel' } };
export async function confirmAlert(options: { title: string; message?: string }): Promise<boolean> {
  recorded.alerts.push({
    title: options.title,
    ...(options.message === undefined ? {} : { message: options.message }),
  });
  return recorded.alertAnswers.shift() ?? true;
}
export function useNavigation() {
  return { push: (view: ReactNode) => recorded.pushed.push(view), pop: () => void recorded.popped++ };
}
export const LaunchType = { UserInitiated: 'userInitiated', Background: 'background' };
export async function launchCommand(options: { name: string }): Promise<void> {
  recorded.launches.push({ name: options.name });
}
export function getPreferenceValues<T>(): T {
  return { ...recorded.preferences } as T;
}
export async function open(): Promise<void> {}
export const environment = { isDevelopment: true, commandName: 'test', extensionName: 'iscsi-initiator' };

// ---- rendering -------------------------------------------------------------------------------------------------

/** A terminal wide enough that no line wraps: the frame is exactly one line per element. */
class WideStdout extends EventEmitter {
  readonly columns = 1000;
  readonly rows = 1000;
  frame = '';
  write = (frame: string) => {
    this.frame = frame;
    return true;
  };
}
class QuietStdin extends EventEmitter {
  isTTY = false;
  setEncoding() {}
  setRawMode() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
  read = () => null;
}

export interface Rendered {
  /** The last frame: one line per element, indented by depth. */
  frame(): string;
  rerender(tree: ReactNode): void;
  unmount(): void;
}

export function renderView(tree: ReactNode): Rendered {
  recorded.actions.clear();
  const stdout = new WideStdout();
  const instance = inkRender(createElement(Box, { flexDirection: 'column' }, tree), {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: new QuietStdin() as unknown as NodeJS.ReadStream,
    stderr: stdout as unknown as NodeJS.WriteStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  return {
    frame: () => stdout.frame,
    rerender: (next) => {
      recorded.actions.clear();
      instance.rerender(createElement(Box, { flexDirection: 'column' }, next));
    },
    unmount: () => instance.unmount(),
  };
}

/** Runs the action a user would pick by its title in the last frame's action panels. */
export async function press(title: string, ...args: unknown[]): Promise<void> {
  const run = recorded.actions.get(title);
  if (!run) throw new Error(`no action "${title}" in the view; there are: ${[...recorded.actions.keys()].join(', ')}`);
  await (run as (...a: unknown[]) => unknown)(...args);
}

/** Keyboard shortcuts: the views only pass them through. */
export const Keyboard = {
  Shortcut: {
    Common: new Proxy({} as Record<string, { modifiers: string[]; key: string }>, {
      get: (_t, name) => ({ modifiers: [], key: String(name) }),
    }),
  },
};
