// Which language server to start, from the `meshc.server.*` settings. Kept apart
// from extension.js (and free of the `vscode` module) so that it is tested with
// plain `node --test`.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DEFAULT_SERVER = 'meshc';
/** The server's own binary, started when `meshc` is not on PATH. */
const STANDALONE_SERVER = 'meshc-language-server';

/** The executable `name` on PATH (with PATHEXT on Windows), or undefined. */
function findOnPath(name, env = process.env, platform = process.platform) {
  const pathValue = env.PATH ?? env.Path ?? '';
  const extensions =
    platform === 'win32' ? ['', ...(env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean)] : [''];
  for (const dir of pathValue.split(platform === 'win32' ? ';' : ':')) {
    if (!dir) {
      continue;
    }
    for (const extension of extensions) {
      const candidate = path.join(dir, name + extension);
      if (isExecutable(candidate, platform)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function isExecutable(file, platform = process.platform) {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (platform !== 'win32') {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** `meshc` itself (not `meshc-language-server`) is started as `meshc lsp`. */
function isMeshcCli(command) {
  const base = path.basename(command).toLowerCase().replace(/\.(exe|cmd|bat)$/, '');
  return base === 'meshc';
}

/**
 * Resolves the server command.
 *
 * `configuredPath` is `meshc.server.path`: a command name looked up on PATH, or a
 * path (absolute, `~/...`, or relative to `workspaceFolder`). Left at the default
 * (or empty), `meshc lsp` is started from PATH, or else `meshc-language-server`.
 *
 * Returns `{ command, args, description }` or `{ error }`.
 */
function resolveServer({ configuredPath, args = [], workspaceFolder, env = process.env, platform = process.platform, home = os.homedir() }) {
  const extraArgs = Array.isArray(args) ? args.map(String) : [];
  const setting = (configuredPath ?? '').trim();
  const withArgs = (command) => {
    const finalArgs = isMeshcCli(command) && extraArgs[0] !== 'lsp' ? ['lsp', ...extraArgs] : extraArgs;
    return { command, args: finalArgs, description: [command, ...finalArgs].join(' ') };
  };

  if (setting === '' || setting === DEFAULT_SERVER) {
    const server = findOnPath(DEFAULT_SERVER, env, platform) ?? findOnPath(STANDALONE_SERVER, env, platform);
    if (server) {
      return withArgs(server);
    }
    return {
      error:
        `meshc was not found on PATH. Install it (cargo install --path cli, from the meshc repository; ` +
        'it serves the language server as `meshc lsp`) or set meshc.server.path to the meshc executable.',
    };
  }

  const looksLikePath = setting.includes('/') || setting.includes('\\') || setting.startsWith('~');
  if (!looksLikePath) {
    const found = findOnPath(setting, env, platform);
    return found ? withArgs(found) : { error: `meshc.server.path: \`${setting}\` was not found on PATH.` };
  }

  let file = setting;
  if (file === '~' || file.startsWith('~/') || file.startsWith('~\\')) {
    file = path.join(home, file.slice(1));
  } else if (!path.isAbsolute(file)) {
    if (!workspaceFolder) {
      return { error: `meshc.server.path: the relative path \`${setting}\` needs an open workspace folder.` };
    }
    file = path.resolve(workspaceFolder, file);
  }
  if (!isExecutable(file, platform)) {
    return { error: `meshc.server.path: \`${file}\` is not an executable file.` };
  }
  return withArgs(file);
}

module.exports = { DEFAULT_SERVER, STANDALONE_SERVER, findOnPath, isMeshcCli, resolveServer };
