from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """Cursor pages over ids, newest first: page 2000 costs what page 1 does, and rows added
    while a script pages never shift what it sees."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
