import { InputError } from '../errors.js';
import { splitFields } from './list.js';

export interface ImageName {
  name: string;
  enable: boolean;
}

/** Parse the `images` lines: bare names, `name=<n>,enable=<bool>`, or one line of comma-separated names. */
export function parseImages(lines: string[]): ImageName[] {
  // Backward compatibility: a single line made only of bare names is a list of images.
  if (lines.length === 1) {
    const fields = splitFields('images', lines[0]);
    if (fields.every((f) => !f.includes('='))) {
      const images = fields.map((f) => ({ name: f.trim().toLowerCase(), enable: true }));
      for (const image of images) validateImageName(image.name, lines[0]);
      return images;
    }
  }
  return lines.map(parseImageLine);
}

function parseImageLine(line: string): ImageName {
  const image: ImageName = { name: '', enable: true };
  for (const field of splitFields('images', line)) {
    const parts = field.split('=').map((p) => p.trim());
    if (parts.length === 1) {
      image.name = parts[0].toLowerCase();
      continue;
    }
    const key = parts[0].toLowerCase();
    const value = parts[1];
    if (key === 'name') {
      image.name = value.toLowerCase();
    } else if (key === 'enable') {
      if (value !== 'true' && value !== 'false') {
        throw new InputError('images', line, `enable must be true or false, got "${value}"`);
      }
      image.enable = value === 'true';
    } else {
      throw new InputError('images', line, `unknown image attribute "${key}" (name, enable)`);
    }
  }
  if (image.name.length === 0) throw new InputError('images', line, 'image name is empty');
  if (image.enable) validateImageName(image.name, line);
  return image;
}

const HOST_PART = '(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${HOST_PART}(?:\\.${HOST_PART})*|\\[[a-f0-9:]+\\])(?::[0-9]+)?$`);
const PATH_PART_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Check a (lower-cased) image name against the docker reference grammar, without tag or digest. */
/** The names Docker Hub goes by in an image name ('' is no host at all). */
const DOCKER_HUB_HOSTS = new Set(['', 'docker.io', 'index.docker.io', 'registry-1.docker.io']);

export function validateImageName(name: string, line: string): void {
  const fail = (reason: string): never => {
    throw new InputError('images', line, `"${name}" is not a valid image name: ${reason}`);
  };
  if (name === '') fail('it is empty');
  if (/\s/.test(name)) fail('it contains whitespace');
  if (name.includes('@')) fail('a digest (@sha256:...) does not belong in the image name');
  if (name.length > 255) fail('it is longer than 255 characters');
  let path = name;
  let host = '';
  const slash = name.indexOf('/');
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!DOMAIN_RE.test(first)) fail(`"${first}" is not a valid registry host[:port]`);
      host = first;
      path = name.slice(slash + 1);
    }
  }
  // Docker Hub reads a bare name as library/<name>, the official images nobody else may push to.
  if (DOCKER_HUB_HOSTS.has(host) && path !== '' && !path.includes('/'))
    fail(
      `on Docker Hub it means library/${path} (Docker's official images): put the user or organisation in front, like acme/${path}`,
    );
  if (path.includes(':')) fail('a tag (:tag) does not belong in the image name; use the tags input');
  for (const part of path.split('/')) {
    if (part === '') fail('it has an empty path component');
    if (!PATH_PART_RE.test(part)) {
      fail(`path component "${part}" may only use a-z, 0-9 and single separators (. _ __ -)`);
    }
  }
}
