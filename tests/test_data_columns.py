"""The Train form's column boxes: a local table's columns read from its first rows, and the likely pair."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_lab.training.columns import LABEL_NAMES, TEXT_NAMES, guess_column, pick_columns, table_columns
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import DEFAULT_DATASET, DatasetError, load_dataset, offline_copy_of
from sentiment_lab.ui.forms import form_values
from sentiment_lab.ui.train_form import FORM_FIELDS

FRAME = pd.DataFrame({"Review": ["a fine film", "a dull one"], "stars": [1, 0], "sentiment": ["pos", "neg"]})


@pytest.mark.parametrize(
    "shape",
    [
        dict(orient="records", lines=True),  # JSON lines
        dict(orient="records"),  # one array on one line, as json.dump writes it
        dict(orient="records", indent=2),  # the same, pretty-printed
        dict(orient="columns"),  # one object of columns, as pandas' to_json writes it
    ],
)
def test_a_json_table_reads_in_each_shape_people_save(tmp_path, shape):
    """A JSON array on one line was read as one row of numbered columns: the boxes offered 0, 1, 2..."""
    frame = pd.DataFrame({"Review": [f"film {i}" for i in range(40)], "stars": [i % 2 for i in range(40)]})
    frame["sentiment"] = frame["stars"].map({0: "neg", 1: "pos"})
    frame.to_json(tmp_path / "reviews.json", **shape)
    assert table_columns(str(tmp_path / "reviews.json")) == ["Review", "stars", "sentiment"]
    ds = load_dataset(str(tmp_path / "reviews.json"), "Review", "sentiment", 42)
    assert sum(len(s) for s in ds.splits.values()) == 40 and ds.label_names == ["neg", "pos"]


def test_columns_of_every_file_type_and_of_a_folders_train_file(tmp_path):
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    FRAME.to_parquet(tmp_path / "b.parquet")
    FRAME.to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    folder = tmp_path / "splits"
    folder.mkdir()
    FRAME.to_parquet(folder / "test.parquet")
    FRAME[["Review", "stars"]].to_parquet(folder / "train.parquet")
    for name in ("a.csv", "b.parquet", "c.jsonl"):
        assert table_columns(str(tmp_path / name)) == ["Review", "stars", "sentiment"]
    assert table_columns(str(folder)) == ["Review", "stars"]
    (tmp_path / "d.csv").write_bytes(b"\xff\xfe\x00broken")
    for unknown in ("someone/reviews", str(tmp_path / "d.csv"), str(tmp_path / "none.csv")):
        assert table_columns(unknown) == []  # nothing to offer


def test_the_default_hub_id_offers_the_columns_of_the_copy_it_falls_back_to():
    if offline_copy_of(DEFAULT_DATASET) is None:
        pytest.skip("no local copy of Rotten Tomatoes beside the project")
    assert table_columns(DEFAULT_DATASET) == ["text", "label"]


def test_leaving_a_table_for_data_whose_columns_cannot_be_read_drops_the_tables_picks_not_typed_names():
    columns = list(FRAME.columns)
    picked = pick_columns(columns, "text", "label", [])
    assert picked == ("Review", "sentiment")
    assert pick_columns([], *picked, columns) == ("text", "label")  # the file's pair would be refused on a Hub id
    assert pick_columns([], "body", "stars", columns) == ("body", "label")  # a name typed stands
    assert pick_columns([], "body", "sentiment", []) == ("body", "sentiment")  # nothing was read before: kept


def test_the_likely_columns_are_picked_and_a_present_choice_is_kept():
    columns = list(FRAME.columns)
    assert guess_column(columns, TEXT_NAMES, "text") == "Review"  # any case
    assert guess_column(columns, LABEL_NAMES, "label") == "sentiment"
    assert guess_column(columns, LABEL_NAMES, "stars") == "stars"  # the user's pick stands
    assert guess_column(["a", "b"], TEXT_NAMES, "text") == "text"  # no likely one: the refusal names the columns
    # A name that ends in a common one: the Twitter airline, clothing-store and Amazon review files.
    airline = ["tweet_id", "airline_sentiment", "airline_sentiment_confidence", "negativereason", "text"]
    assert guess_column(airline, LABEL_NAMES, "label") == "airline_sentiment"
    clothing = ["Clothing ID", "Age", "Title", "Review Text", "Rating", "Recommended IND"]
    assert (guess_column(clothing, TEXT_NAMES, "text"), guess_column(clothing, LABEL_NAMES, "label")) == (
        "Review Text",
        "Rating",
    )
    amazon = ["reviewerID", "asin", "reviewText", "overall", "summary"]
    assert (guess_column(amazon, TEXT_NAMES), guess_column(amazon, LABEL_NAMES)) == ("reviewText", "overall")


def test_a_runs_columns_are_copied_to_the_form():
    saved = RunConfig.of(method="lora", text_column="Review", label_column="sentiment")
    values, left_out = form_values(saved, FORM_FIELDS)
    named = dict(zip(FORM_FIELDS, values))
    assert (named["text_column"], named["label_column"]) == ("Review", "sentiment") and left_out == []


def test_a_text_column_of_numbers_is_refused_by_name(tmp_path):
    FRAME.assign(id=range(2)).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DatasetError, match="the text column 'id' holds numbers, not sentences"):
        load_dataset(str(tmp_path / "a.csv"), text_column="id", label_column="sentiment")


def test_spreadsheet_exports_read_as_tables(tmp_path):
    """A CSV saved with semicolons (where the comma is the decimal mark) and a TSV read like any CSV, here, in
    the column boxes and in Compare's many reviews; a file in another encoding is refused with what to do."""
    from sentiment_lab.serving.review_batch import ReviewError, read_reviews

    frame = pd.DataFrame({"Review": [f"film {i}, {'good' if i % 2 else 'bad'}; {i}" for i in range(30)]})
    frame["sentiment"] = [i % 2 for i in range(30)]
    frame.to_csv(tmp_path / "semi.csv", sep=";", index=False)
    frame.to_csv(tmp_path / "tabs.tsv", sep="\t", index=False)
    frame[["Review"]].to_csv(tmp_path / "one.csv", index=False)  # one column: its sentences hold ";" and ","
    for name in ("semi.csv", "tabs.tsv"):
        path = str(tmp_path / name)
        assert table_columns(path) == ["Review", "sentiment"]
        ds = load_dataset(path, text_column="Review", label_column="sentiment")
        assert sorted(sum((s.texts for s in ds.splits.values()), [])) == sorted(frame["Review"])
        texts, labels = read_reviews(path)
        assert texts == list(frame["Review"]) and labels == list(frame["sentiment"])
    assert read_reviews(str(tmp_path / "one.csv"))[0] == list(frame["Review"])
    # Excel on Windows saves CSV in Windows-1252: it was refused as not UTF-8; read so, and said.
    frame.assign(Review="café " + frame["Review"]).to_csv(tmp_path / "latin.csv", index=False, encoding="cp1252")
    ds = load_dataset(str(tmp_path / "latin.csv"), text_column="Review", label_column="sentiment")
    assert all(t.startswith("café film") for s in ds.splits.values() for t in s.texts)
    assert ds.warnings[0].startswith("the file latin.csv is not UTF-8 text: it is read as Windows-1252")
    assert read_reviews(str(tmp_path / "latin.csv"))[0][0].startswith("café film 0")
    (tmp_path / "wide.csv").write_text("Review,sentiment\ngood,1\nbad,0\n", encoding="utf-16")
    with pytest.raises(DatasetError, match=r"wide.csv is not UTF-8 text: save it as UTF-8"):  # no single-byte text
        load_dataset(str(tmp_path / "wide.csv"), text_column="Review", label_column="sentiment")
    with pytest.raises(ReviewError, match="not UTF-8"):
        read_reviews(str(tmp_path / "wide.csv"))


def sentiment140_like(path, n: int = 60):
    """Sentiment140's layout: no header row; polarity (0 or 4), id, date, query, user, tweet."""
    rows = [
        f'"{4 * (i % 2)}","{1467810369 + i}","Mon Apr 06 22:19:{i % 60:02d} PDT 2009","NO_QUERY","user{i}",'
        f'"{"what a lovely day, great stuff" if i % 2 else "awful, this is such a bummer"} {i}"'
        for i in range(n)
    ]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_a_file_without_a_header_row_is_read_whole_and_its_columns_picked_by_what_they_hold(tmp_path):
    """Sentiment140 and the Yelp and Amazon polarity CSVs start with data: their first row became the column
    names (`4`, `@user what a lovely day...`) and was lost as a row."""
    from sentiment_lab.serving.review_batch import read_reviews
    from sentiment_lab.training.columns import table_head

    path = sentiment140_like(tmp_path / "s140.csv")
    head = table_head(path)
    columns = [f"column{i}" for i in range(1, 7)]
    assert list(head.columns) == columns
    assert pick_columns(columns, "text", "label", [], head) == ("column6", "column1")
    ds = load_dataset(path, "column6", "column1")
    assert sum(len(s) for s in ds.splits.values()) == 60 and ds.label_names == ["0", "4"]
    assert ds.warnings[0] == (
        "the file s140.csv has no header row (its first line is data: a number stands where a column's name "
        "would): its columns are named column1 to column6"
    )
    by_class = sentiment140_like(tmp_path / "sorted.csv")  # sorted by class, as Sentiment140 is: one at its top
    lines = (tmp_path / "sorted.csv").read_text().splitlines()
    (tmp_path / "sorted.csv").write_text("\n".join(sorted(lines, key=lambda line: line[1])) + "\n")
    assert pick_columns(columns, "text", "label", [], table_head(by_class)) == ("column6", "column1")
    texts, labels = read_reviews(path)  # Compare's many reviews picks the same pair
    assert texts[0] == "awful, this is such a bummer 0" and labels[:2] == [0, 4]
    headed = tmp_path / "headed.csv"  # a header over a column of numbers stays a header
    headed.write_text("review,stars\n" + "".join(f"film {i} was fine,{i % 5}\n" for i in range(20)))
    assert table_columns(str(headed)) == ["review", "stars"]
    assert not any("header" in said for said in load_dataset(str(headed), "review", "stars").warnings)
    named = pd.DataFrame(  # names that say nothing: an id of many values is no class
        {"id": range(30), "Phrase": [f"a {'good' if i % 2 else 'bad'} one" for i in range(30)], "Score": [1, 0] * 15}
    )
    assert pick_columns(list(named.columns), "text", "label", [], named) == ("Phrase", "Score")
