import { describe, expect, it } from '@jest/globals';
import { explainFailure } from '../../src/explain.js';
import { RegistryError } from '../../src/registry/retry.js';

const refusal = (status: number, code: string | undefined, said: string) =>
  new RegistryError(`registry r.example: POST blob upload acme/api answered ${status}: ${said}`, {
    registry: 'r.example',
    status,
    ...(code ? { code } : {}),
    retryable: false,
  });

describe('explainFailure: a repository that must exist first (ECR, Artifact Registry, Harbor)', () => {
  it.each([
    [
      '404 NAME_UNKNOWN (ECR)',
      refusal(404, 'NAME_UNKNOWN', "The repository with name 'acme/api' does not exist"),
    ],
    ['404 NOT_FOUND "project acme not found" (Harbor)', refusal(404, 'NOT_FOUND', 'project acme not found')],
  ])('%s: says the repository does not exist and to create it, in one line', (_name, err) => {
    const message = explainFailure('Push', 'r.example/acme/api:1.0', 'r.example', err).message;
    expect(message).toMatch(
      /^Push of r\.example\/acme\/api:1\.0 failed: the repository r\.example\/acme\/api does not exist on r\.example\. Create it first/,
    );
    expect(message).not.toContain('\n');
  });

  it('a 404 of something else (a manifest) is not called a missing repository', () => {
    const err = refusal(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    expect(explainFailure('Push', 'r.example/acme/api:1.0', 'r.example', err).message).not.toMatch(
      /does not exist/,
    );
  });
});
