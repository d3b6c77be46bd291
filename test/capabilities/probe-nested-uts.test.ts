import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findTool } from '../../src/capabilities/probe-host.js';
import { probeLinuxSandbox, type SandboxTools } from '../../src/capabilities/probe-sandbox.js';

/**
 * The nested user+uts namespace is used only when the probe really ran it: a failing unshare
 * (as where unprivileged user namespaces are disabled) leaves uts tasks on the fixed hostname
 * and says so in the warnings.
 */
await test('probeLinuxSandbox: nested uts namespace', async (t) => {
  const tools: SandboxTools = {
    bwrap: findTool('bwrap'),
    setpriv: findTool('setpriv'),
    env: findTool('env'),
    truePath: findTool('true'),
    unshare: findTool('unshare'),
    hostname: findTool('hostname'),
  };
  const isRoot = process.getuid?.() === 0;
  // The same probe the manifest is built from: its warnings are the skip reason.
  const baselineWarnings: string[] = [];
  const baseline = probeLinuxSandbox(tools, isRoot, baselineWarnings);
  if (baseline.tool === null || !baseline.namespaces.uts) {
    t.skip(`linux_sandbox with a uts namespace unavailable: ${baselineWarnings.join('; ')}`);
    return;
  }

  await t.test('a failing unshare: no unsharePath and a warning', () => {
    const warnings: string[] = [];
    const probe = probeLinuxSandbox({ ...tools, unshare: findTool('false') }, isRoot, warnings);
    assert.equal(probe.tool?.unsharePath, undefined);
    assert.ok(probe.namespaces.uts, 'the uts namespace itself stays available');
    assert.ok(
      warnings.some((warning) => warning.includes('cannot change it')),
      warnings.join('; '),
    );
  });

  await t.test('no unshare at all: no unsharePath and a warning', () => {
    const warnings: string[] = [];
    const probe = probeLinuxSandbox({ ...tools, unshare: null }, isRoot, warnings);
    assert.equal(probe.tool?.unsharePath, undefined);
    assert.ok(warnings.some((warning) => warning.includes('unshare not found')));
  });

  await t.test('a working unshare is reported only after a real run succeeded', (t2) => {
    const warnings: string[] = [];
    const probe = probeLinuxSandbox(tools, isRoot, warnings);
    if (
      tools.unshare === null ||
      tools.unshare === undefined ||
      probe.tool?.unsharePath === undefined
    ) {
      t2.skip(`nested user namespaces unavailable here: ${warnings.join('; ')}`);
      return;
    }
    assert.equal(probe.tool?.unsharePath, tools.unshare);
  });
});
