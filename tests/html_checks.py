"""What a hostile value must look like in an HTML document: text, never markup."""

from html.parser import HTMLParser

HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=1>')


class _Document(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_shown_as_text(html: str, *values: str) -> None:
    """Each of ``values`` reads as text in ``html`` (a browser shows it as typed) and none of
    HOSTILE became an element or an attribute."""
    doc = _Document()
    doc.feed(html)
    doc.close()
    assert not doc.tags & {"script", "img"}, f"hostile markup became elements: {doc.tags}"
    assert not doc.attributes & {"onerror", "src"}, f"hostile attributes: {doc.attributes}"
    assert "<script>" not in html and "<img" not in html
    text = "\n".join(doc.text)
    for value in values:
        assert value in text, f"{value!r} is not shown as text"
