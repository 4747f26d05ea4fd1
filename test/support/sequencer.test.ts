/**
 * The suite's file order (test/support/sequencer.ts): longest first, one container suite at a time.
 */
import { describe, expect, it } from 'vitest';
import { plan } from './sequencer.js';

type File = { name: string; seconds: number; container?: boolean };
const names = (files: File[]) => files.map((f) => f.name);
const run = (files: File[], workers: number, maxContainers?: number) => names(plan(files, (f) => f.seconds, (f) => f.container === true, workers, maxContainers));

describe('the file order', () => {
  it('is longest first when no container suite is among the files', () => {
    // Prepare
    const files = [{ name: 'a', seconds: 30 }, { name: 'b', seconds: 20 }, { name: 'c', seconds: 5 }, { name: 'd', seconds: 1 }];
    // Act, Assess
    expect(run(files, 3)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('starts a container suite only when the one before it is expected to have ended, longest first otherwise', () => {
    // Prepare: three long container suites among other files, three workers
    const files: File[] = [
      { name: 'c1', seconds: 30, container: true }, { name: 'c2', seconds: 25, container: true }, { name: 'h1', seconds: 20 },
      { name: 'c3', seconds: 18, container: true }, { name: 'h2', seconds: 15 }, { name: 'h3', seconds: 10 }, { name: 'h4', seconds: 10 },
      { name: 'h5', seconds: 5 }, { name: 'h6', seconds: 5 },
    ];
    // Act
    const order = run(files, 3);
    // Assess: c1 (0-30 s) beside the others; c2 once c1 is done (30 s); c3 beside c2 only when
    // nothing else is left.
    expect(order).toEqual(['c1', 'h1', 'h2', 'h3', 'h4', 'h5', 'c2', 'h6', 'c3']);
  });

  it('takes the container suites in turn when nothing else is left', () => {
    // Prepare
    const files: File[] = [{ name: 'c1', seconds: 10, container: true }, { name: 'c2', seconds: 10, container: true }, { name: 'h1', seconds: 1 }];
    // Act, Assess
    expect(run(files, 2)).toEqual(['c1', 'h1', 'c2']);
    expect(run(files, 3, 2)).toEqual(['c1', 'c2', 'h1']);
  });
});
