"""Choose on val, report on test: a choice that would read the test split is refused."""
import pytest

from ordebug_lib.ordebug.instance import Instance
from ordebug_lib.selection import SelectionError, check_choice_split, check_instances_for_choice, choose


def test_a_choice_reads_val_only():
    assert choose({"a": 0.2, "b": 0.5, "c": 0.5}, "val", "x") == "b"  # ties: the first given
    assert choose({"a": 0.2, "b": 0.5}, "val", "x", higher_is_better=False) == "a"
    for split in ("test", "train", None):
        with pytest.raises(SelectionError, match=f"on the {split} split"):
            check_choice_split(split, "the checkpoint")
    with pytest.raises(ValueError, match="nothing to choose"):
        choose({}, "val", "x")


def test_instances_of_a_choice_must_be_val_ones():
    def inst(split):
        return Instance(f"i-{split}", "diet", "A", "easy", "semantic", 0, None, None, [], [], 0.0, {"split": split})

    check_instances_for_choice([inst("val"), inst("val")], "keep_best")
    with pytest.raises(SelectionError, match=r"keep_best \(instance i-test\) would be chosen on the test split"):
        check_instances_for_choice([inst("val"), inst("test")], "keep_best")
