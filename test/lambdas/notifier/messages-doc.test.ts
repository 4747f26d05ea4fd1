import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderMessagesPage } from '../../../scripts/render-messages.js';

describe('docs/messages.md', () => {
  it('is what the renderers produce today (run npx tsx scripts/render-messages.ts after changing them)', () => {
    // Act
    const page = renderMessagesPage();
    // Assess
    expect(readFileSync('docs/messages.md', 'utf8')).toBe(page);
    expect(page).toContain('"event_action": "trigger"');
    expect(page).toContain('"blocks"');
  });
});
