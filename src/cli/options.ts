/**
 * Option parsers and output formats shared by every command, so flags behave as kubectl and Helm users expect:
 * durations (`--timeout 600s`, `10m`, `1h30m`, plain seconds) and `-o json|yaml` beside `--json`.
 * @module
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { DurationError, parseDurationSeconds } from '../domain/duration.js';

/** Commander parser: a duration flag as whole seconds (`600s`, `10m`, `1h30m`, `600`); zero is refused. */
export function durationSecondsArg(value: string): number {
  let seconds: number;
  try {
    seconds = parseDurationSeconds(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof DurationError ? err.message : String(err));
  }
  if (seconds <= 0) throw new InvalidArgumentError(`"${value}" must be longer than zero`);
  return seconds;
}

/** Commander parser: like {@link durationSecondsArg}, but zero is allowed (`--for 0`: at once). */
export function durationSecondsOrZeroArg(value: string): number {
  try {
    return parseDurationSeconds(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof DurationError ? err.message : String(err));
  }
}

/** How a command prints its result. */
export type OutputFormat = 'text' | 'json' | 'yaml';

/** Options {@link addOutputOptions} adds. */
export interface OutputOptions {
  /** `--json`: the same as `-o json`. */
  json?: boolean;
  /** `-o, --output`. */
  output?: 'json' | 'yaml' | 'text';
}

/** Adds `-o, --output json|yaml|text` and `--json` (kept: the same as `-o json`). */
export function addOutputOptions(command: Command, what = 'the result'): Command {
  return command
    .addOption(
      new Option('-o, --output <format>', `print ${what} as json, yaml or text`).choices(['json', 'yaml', 'text']),
    )
    .option('--json', `print ${what} as one JSON document (same as -o json)`, false);
}

/** The format chosen by {@link addOutputOptions}' flags (text when neither is given). */
export function outputFormatOf(opts: OutputOptions): OutputFormat {
  if (opts.output) return opts.output;
  return opts.json ? 'json' : 'text';
}

/** True when stdout carries one machine-readable document. */
export function isMachineOutput(opts: OutputOptions): boolean {
  return outputFormatOf(opts) !== 'text';
}

/** One document in the chosen machine format, newline-terminated (`text` falls back to JSON). */
export function formatDocument(doc: unknown, format: OutputFormat): string {
  return format === 'yaml' ? toYaml(doc) : `${JSON.stringify(doc)}\n`;
}
