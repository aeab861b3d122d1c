import { rm } from 'node:fs/promises';
import { messageOf } from './errors.js';
import * as core from '@actions/core';

/** One bundle serves main and post: the main step leaves a mark in the saved state. */
export async function entry(): Promise<void> {
  if (core.getState('isPost') === 'true') await post();
  else await run();
}

export async function run(): Promise<void> {
  try {
    core.saveState('isPost', 'true');
    // Loaded here, not at the top: the post step then starts without parsing the whole action.
    const { publish } = await import('./publish.js');
    await publish();
  } catch (err) {
    core.setFailed(messageOf(err));
  }
}

/** Deletes the action's own Docker config, tokens and all. Warns, never fails. */
export async function post(): Promise<void> {
  const dir = core.getState('configDir');
  if (!dir) return;
  if (core.getState('logout') === 'false') {
    core.info(`logout: false, the registry credentials stay in ${dir} until the runner cleans RUNNER_TEMP`);
    return;
  }
  try {
    await rm(dir, { recursive: true, force: true });
    core.info('Removed the registry credentials of this step');
  } catch (err) {
    core.warning(`Could not remove the registry credentials in ${dir}: ${messageOf(err)}`);
  }
}
