/** A small element builder: text always goes in as text, never as HTML. */

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | null | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (name === 'className') {
      el.className = String(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** A horizontal bar of `pct` (0..100) filled, with an accessible label. */
export function bar(pct: number | null, label: string, level = ''): HTMLElement {
  const fill = h('div', { className: `rv-bar-fill ${level}` });
  fill.style.width = `${pct ?? 0}%`;
  return h(
    'div',
    {
      className: 'rv-bar',
      role: 'meter',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': pct === null ? null : Math.round(pct),
      'aria-label': label,
      title: label
    },
    fill
  );
}
