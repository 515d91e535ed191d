"""A tiny document model rendered twice: Markdown (images as files) and self-contained HTML
(images inlined as base64 data URIs)."""
import base64
import html
import re
from pathlib import Path


class Doc:
    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(('h', level, text))

    def p(self, text):
        self.blocks.append(('p', text))

    def code(self, text):
        self.blocks.append(('code', text))

    def bullets(self, items):
        self.blocks.append(('ul', list(items)))

    def table(self, header, rows):
        self.blocks.append(('table', header, [[_cell(c) for c in r] for r in rows]))

    def image(self, path, alt, md_path):
        """``path``: the file to inline in HTML; ``md_path``: the link Markdown uses."""
        self.blocks.append(('img', Path(path), alt, md_path))

    def markdown(self):
        out = []
        for b in self.blocks:
            if b[0] == 'h':
                out.append('#' * b[1] + ' ' + b[2])
            elif b[0] == 'p':
                out.append(b[1])
            elif b[0] == 'code':
                out.append('```\n' + b[1] + '\n```')
            elif b[0] == 'ul':
                out.append('\n'.join('- ' + t for t in b[1]))
            elif b[0] == 'table':
                out.append('\n'.join(['| ' + ' | '.join(b[1]) + ' |', '|' + '---|' * len(b[1])] +
                                     ['| ' + ' | '.join(r) + ' |' for r in b[2]]))
            elif b[0] == 'img':
                out.append(f'![{b[2]}]({b[3]})')
        return '\n\n'.join(out) + '\n'

    def html(self, title):
        e = html.escape
        out = [f'<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>'
               'body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}'
               'table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;'
               'text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f4f4f4;padding:8px;'
               'overflow-x:auto}img{max-width:100%}</style></head><body>']
        for b in self.blocks:
            if b[0] == 'h':
                out.append(f'<h{b[1]}>{e(b[2])}</h{b[1]}>')
            elif b[0] == 'p':
                out.append(f'<p>{_inline(b[1])}</p>')
            elif b[0] == 'code':
                out.append(f'<pre>{e(b[1])}</pre>')
            elif b[0] == 'ul':
                out.append('<ul>' + ''.join(f'<li>{_inline(t)}</li>' for t in b[1]) + '</ul>')
            elif b[0] == 'table':
                out.append('<table><tr>' + ''.join(f'<th>{_inline(c)}</th>' for c in b[1]) + '</tr>' +
                           ''.join('<tr>' + ''.join(f'<td>{_inline(c)}</td>' for c in r) + '</tr>' for r in b[2]) +
                           '</table>')
            elif b[0] == 'img':
                data = base64.b64encode(b[1].read_bytes()).decode('ascii')
                out.append(f'<p><img alt="{e(b[2])}" src="data:image/png;base64,{data}"></p>')
        return '\n'.join(out) + '\n</body></html>\n'


def _cell(c):
    if c is None:
        return '-'
    if isinstance(c, float) and c != c:
        return 'n/a'
    if isinstance(c, float):
        return f'{c:.4f}' if abs(c) < 10 else f'{c:.2f}'
    return str(c)


def _inline(text):
    """Markdown's **bold** and `code` in HTML; everything else escaped."""
    t = html.escape(text)
    t = re.sub(r'\*\*(.+?)\*\*', r'<b>\1</b>', t)
    return re.sub(r'`(.+?)`', r'<code>\1</code>', t)
