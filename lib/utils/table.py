"""Plain-text tables for logs and terminals."""


def format_table(header, rows):
    """One string: the header row, a rule of '-' as wide as it, then the rows.

    header: column titles; rows: lists of cells (any objects, shown with ``str``). Columns
    are as wide as their widest cell, separated by two spaces; the first is left-aligned,
    the others right-aligned.
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(header))]
    lines = ['  '.join(cell.rjust(width) if k else cell.ljust(width)
                       for k, (cell, width) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines)
