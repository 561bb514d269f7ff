/**
 * `--notify CHANNEL` (repeatable) and `--notify-on OUTCOME` (repeatable) for `deploy` and `scale`: the run tells
 * those alert channels (configured on the worker) once when it ends, by default when it did not succeed; see
 * `schemas/notify`. The schema checks the names; an unknown channel fails the run before any write (exit 2).
 * @module
 */
import type { Command } from 'commander';

/** What the two options parse to. */
export interface NotifyCliOptions {
  notify?: string[];
  notifyOn?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds `--notify` and `--notify-on` to a command. */
export function addNotifyOptions(command: Command): Command {
  return command
    .option(
      '--notify <channel>',
      'alert channel (configured on the worker) told once when the run ends; repeatable',
      collect,
    )
    .option(
      '--notify-on <outcome>',
      'outcome that sends the alert (default: every outcome but success), e.g. failed, rolledBack, succeeded; repeatable',
      collect,
    );
}

/** The input's `notify` field, when `--notify` was given. */
export function notifyInput(opts: NotifyCliOptions): { notify?: { channels: string[]; on?: never[] } } {
  if (!opts.notify?.length) return {};
  // the workflow schema validates the outcome names (each workflow has its own)
  return { notify: { channels: opts.notify, ...(opts.notifyOn?.length ? { on: opts.notifyOn as never[] } : {}) } };
}
