"""lib.utils.table.format_table against tables written out by hand."""
from lib.utils.table import format_table


def test_columns_as_wide_as_their_widest_cell_first_left_others_right():
    text = format_table(['part', 'ms', 'share'], [['rpn', 12.5, '3%'], ['fcis head', 7, '41%']])
    assert text.split('\n') == [
        'part' + ' ' * 9 + 'ms  share',
        '-' * 22,
        'rpn' + ' ' * 8 + '12.5' + ' ' * 5 + '3%',
        'fcis head' + ' ' * 5 + '7' + ' ' * 4 + '41%',
    ]


def test_header_cells_of_any_type_and_no_rows():
    assert format_table([7, 'bb'], []) == '7  bb\n-----'
