"""`infomax estimate X Y`: file formats, --json output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from infomax.cli import main
from infomax.data.synthetic import mi_to_rho, sample_correlated_gaussian_np
from infomax.errors import UserError

FAST = ["--steps", "40", "--batch-size", "64", "--quiet"]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    return sample_correlated_gaussian_np(400, 2, mi_to_rho(1.0, 2), seed=0)


def _save_csv(path: Path, a: np.ndarray, header: str | None = None) -> Path:
    np.savetxt(path, a, delimiter=",", header=header or "", comments="")
    return path


def test_json_output_npy_and_csv_agree(tmp_path: Path, pair, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = pair
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    _save_csv(tmp_path / "x.csv", x, header="a,b")  # a header line of column names is skipped
    _save_csv(tmp_path / "y.csv", y)
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--json", *FAST]) == 0
    out = capsys.readouterr().out
    d = json.loads(out)  # exactly one JSON object on stdout
    assert out.count("\n") == 1
    for key in ("mi_nats", "mi_bits", "stderr_nats", "bound", "critic", "n_train", "n_test", "warnings"):
        assert key in d
    assert d["bound"] == "smile" and d["critic"] == "separable"
    assert d["note"].startswith("stderr_nats is the sampling noise of the held-out estimate only")
    assert d["converged"] is False and any("did not converge within 40 steps" in w for w in d["warnings"])
    assert (d["n_train"], d["n_test"]) == (280, 80)
    assert d["mi_bits"] == pytest.approx(d["mi_nats"] / math.log(2))
    # the CLI reports exactly what the library gives with the same settings
    from infomax.estimate import estimate_mi

    lib = estimate_mi(x, y, max_steps=40, batch_size=64, progress=False)
    assert (d["mi_nats"], d["stderr_nats"]) == (lib.mi_nats, lib.stderr_nats)
    # the csv copy (printed with %.18e: exact float64) gives the identical estimate
    assert main(["estimate", str(tmp_path / "x.csv"), str(tmp_path / "y.csv"), "--json", *FAST]) == 0
    assert json.loads(capsys.readouterr().out)["mi_nats"] == d["mi_nats"]


def test_text_output_and_options(tmp_path: Path, pair, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = pair
    np.save(tmp_path / "x.npy", x[:, 0])  # 1-D: one feature
    np.save(tmp_path / "y.npy", y)
    rc = main(
        [
            "estimate",
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
            "--bound",
            "nwj",
            "--critic",
            "concat",
            "--tau",
            "none",
            "--seed",
            "3",
            *FAST,
        ]
    )
    assert rc == 0
    out, err = capsys.readouterr()
    assert out.startswith("I(X;Y) = ") and "bound=nwj critic=concat" in out
    assert "\nnote: stderr_nats is the sampling noise of the held-out estimate only" in out
    assert "nwj is a lower bound" in out
    assert "warning: only 400 samples" in err


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(
    ("make", "msg"),
    [
        (lambda t, x: [str(t / "missing.npy"), x], "file not found"),
        (lambda t, x: [str(t), x], "not a file"),
        (lambda t, x: [_write(t, "a.npy", "not an npy file"), x], "cannot read"),
        (lambda t, x: [_write(t, "a.json", "[1, 2]"), x], "unsupported file type"),
        (lambda t, x: [_write(t, "a.csv", "1,2\n3,x\n"), x], "non-numeric"),
        (lambda t, x: [_write(t, "a.csv", "# c\n\n1,2\n3,x\n"), x], "line 4, column 2 has a non-num"),
        # a first row mixing numbers and text is not a header (QA: it silently dropped a data row)
        (lambda t, x: [_write(t, "a.csv", "1.0,zz\n" + "1,2\n" * 399), x], "line 1, column 2 has a non-num"),
        (lambda t, x: [_write(t, "a.csv", "a,7\n" + "1,2\n" * 399), x], "line 1, column 1 has a non-num"),
        (lambda t, x: [x, x, "--threads", "0"], "--threads must be >= 1"),
        (lambda t, x: [_write(t, "a.csv", "1,2\n3\n"), x], "different numbers of columns"),
        (lambda t, x: [_write(t, "a.csv", "# nothing\n"), x], "no data rows"),
        (lambda t, x: [_write(t, "a.csv", "1,2\n" * 399 + "nan,1\n"), x], "NaN or inf"),
        (lambda t, x: [_write(t, "a.csv", "1,2\n" * 300), x], "rows"),
        (lambda t, x: [x, x, "--steps", "0"], "max_steps"),
        (lambda t, x: [x, x, "--score-map", "-1"], "score_map must be >= 0"),
        (lambda t, x: [x, x, "--dropout", "1"], "dropout must be in [0, 1), got 1.0"),
        (lambda t, x: [x, x, "--test-fraction", "0"], "test_fraction must be in (0, 1), got 0.0"),
        (lambda t, x: [x, x, "--test-fraction", "0.6", "--val-fraction", "0.5"], "must be < 1"),
    ],
)
def test_errors_exit_2_with_one_line(
    tmp_path: Path, pair, capsys: pytest.CaptureFixture[str], make, msg
) -> None:
    np.save(tmp_path / "ok.npy", pair[0])
    argv = ["estimate", *make(tmp_path, str(tmp_path / "ok.npy")), "--quiet"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("infomax: error: ") and err.count("\n") == 1 and msg in err
    assert "Traceback" not in err


def test_unknown_bound_is_a_usage_error(tmp_path: Path, pair, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", pair[0])
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "x.npy"), "--bound", "mine-ish"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_header_only_when_every_cell_is_non_numeric(tmp_path: Path) -> None:
    from infomax.cli.estimate import load_samples

    body = "1,2\n3,4.5\n"
    expect = np.array([[1.0, 2.0], [3.0, 4.5]])
    for head in ("a,b\n", "x 1,\"y\"\n", "# comment\nnames,more\n"):
        assert np.array_equal(load_samples(_write(tmp_path, "h.csv", head + body)), expect)
    assert np.array_equal(load_samples(_write(tmp_path, "n.csv", body)), expect)  # no header: both rows kept


def test_threads_option(tmp_path: Path, pair, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    np.save(tmp_path / "x.npy", pair[0])
    np.save(tmp_path / "y.npy", pair[1])
    base = ["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), *FAST]
    assert main([*base, "--threads", "3"]) == 0 and calls == [3]
    assert main(base) == 0 and calls == [3]  # no --threads: torch's default is left alone
    with pytest.raises(SystemExit) as exc:
        main([*base, "--threads", "two"])
    assert exc.value.code == 2


def test_score_map_option_reaches_the_trained_critic(
    tmp_path: Path, pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infomax.estimate as E
    from infomax.critics import ScoreMap

    widths: list[int | None] = []
    real = E.train_critic

    def spy(data, p, gen):  # the critic the command trains: wrapped, with the width asked for
        t = real(data, p, gen)
        widths.append(t.net.phi[0].out_features if isinstance(t.net, ScoreMap) else None)
        return t

    monkeypatch.setattr(E, "train_critic", spy)
    np.save(tmp_path / "x.npy", pair[0])
    np.save(tmp_path / "y.npy", pair[1])
    base = ["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--method", "critic", *FAST]
    assert main([*base, "--score-map", "5"]) == 0 and main(base) == 0
    assert widths == [5, None]


def test_dropout_option_reaches_the_trained_critic(
    tmp_path: Path, pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import infomax.estimate as E

    rates: list[list[float]] = []
    real = E.train_critic

    def spy(data, p, gen):
        t = real(data, p, gen)
        rates.append([m.p for m in t.net.modules() if isinstance(m, torch.nn.Dropout)])
        return t

    monkeypatch.setattr(E, "train_critic", spy)
    np.save(tmp_path / "x.npy", pair[0])
    np.save(tmp_path / "y.npy", pair[1])
    base = ["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--method", "critic", *FAST]
    assert main([*base, "--dropout", "0.25"]) == 0 and main([*base, "--dropout", "0"]) == 0
    assert rates == [[0.25] * 8, []]  # four hidden layers a side (FAST keeps the default shape)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--method", "critic", "--score-map", "5", "--activation", "relu"],
         {"method": "critic", "score_map": 5, "activation": "relu", "radial": True}),
        (["--method", "critic", "--embed-dim", "8", "--weight-decay", "0.001"],
         {"method": "critic", "embed_dim": 8, "weight_decay": 0.001}),
        (["--method", "critic", "--dropout", "0.3"], {"method": "critic", "dropout": 0.3}),
        (["--method", "critic", "--test-fraction", "0.1", "--val-fraction", "0.15"],
         {"method": "critic", "test_fraction": 0.1, "val_fraction": 0.15}),
        (["--method", "quick"], {"method": "quick", "score_map": 0, "activation": "gelu", "embed_dim": 32}),
    ],
    ids=["critic", "critic-embedding", "critic-dropout", "critic-splits", "quick"],
)
def test_json_records_the_options_the_estimate_was_made_with(
    tmp_path: Path, pair, capsys: pytest.CaptureFixture[str], extra: list[str], expected: dict
) -> None:
    np.save(tmp_path / "x.npy", pair[0])
    np.save(tmp_path / "y.npy", pair[1])
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), *FAST, *extra, "--json"]) == 0
    options = json.loads(capsys.readouterr().out)["options"]
    assert {k: options[k] for k in expected} == expected
    assert options["seed"] == 0 and options["device"] == "cpu" and "progress" not in options


# ------------------------------------------------------------- issue #24: results that must not mislead


def _issue_pair(tmp_path: Path, n: int, d: int) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x + 0.1 * rng.standard_normal((n, d)))  # Y = X + small noise
    return str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


def _check_noisy_copy(d: dict, n_train: int, dims: int) -> None:
    assert d["reliable"] is False and d["dependence"] == "detected" and d["deterministic"] is False
    assert not any("no dependence" in w for w in d["warnings"])
    assert any(
        "too small for the dimension" in w and f"{n_train} training pairs for {dims} input dimensions" in w
        for w in d["warnings"]
    )
    assert d["pair_check"]["significant"] is True and d["pair_check"]["rank_correlation"] > 0.99


def _check_self(d: dict) -> None:
    assert d["deterministic"] is True and d["dependence"] == "deterministic"
    assert any("infinite" in w and "exact monotone function" in w for w in d["warnings"])
    assert not any("no dependence" in w for w in d["warnings"])


@pytest.mark.parametrize("bound", ["smile", "nwj"])
def test_small_sample_high_dimension_json_flags(tmp_path: Path, capsys, bound: str) -> None:
    x, y = _issue_pair(tmp_path, 300, 300)
    fast = ["--steps", "100", "--hidden", "32", "--quiet", "--json", "--bound", bound]
    assert main(["estimate", x, y, *fast]) == 0
    _check_noisy_copy(json.loads(capsys.readouterr().out), 210, 600)
    assert main(["estimate", x, x, *fast]) == 0
    _check_self(json.loads(capsys.readouterr().out))


def test_text_output_of_an_unreliable_and_a_deterministic_estimate(tmp_path: Path, capsys) -> None:
    x, y = _issue_pair(tmp_path, 300, 300)
    fast = ["--steps", "100", "--hidden", "32", "--quiet"]
    assert main(["estimate", x, y, *fast]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("I(X;Y): no reliable estimate (held-out value ")
    assert "dependence: detected" in out and "too small for the dimension" in err
    assert main(["estimate", x, x, *fast]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("I(X;Y) = inf") and "dependence: deterministic" in out and "infinite" in err


@pytest.mark.slow
def test_issue_case_500_samples_2000_dimensions(tmp_path: Path, capsys) -> None:
    # the report's data with the default critic: Y = X + noise, and X against itself. The default run keeps
    # the critic of step 100 and stops near step 900; 400 steps keep the same critic at half the cost.
    x, y = _issue_pair(tmp_path, 500, 2000)
    opts = ["--steps", "400", "--quiet", "--json", "--threads", "1"]
    assert main(["estimate", x, y, *opts]) == 0
    _check_noisy_copy(json.loads(capsys.readouterr().out), 350, 4000)
    assert main(["estimate", x, x, *opts]) == 0
    _check_self(json.loads(capsys.readouterr().out))


# ------------------------------------------------------- issue 20: file formats, --quick, the interval


def test_npz_named_arrays_tsv_and_csv_read_the_same_numbers(tmp_path: Path) -> None:
    from infomax.cli.estimate import load_samples

    a = np.array([[1.0, 2.5], [3.0, -4.0], [5.0, 6.0]])
    np.savez(tmp_path / "d.npz", x=a, y=a[:, 0])
    np.savez(tmp_path / "one.npz", only=a)
    assert np.array_equal(load_samples(f"{tmp_path / 'd.npz'}:x"), a)
    assert np.array_equal(load_samples(f"{tmp_path / 'd.npz'}:y"), a[:, 0])
    assert np.array_equal(load_samples(str(tmp_path / "one.npz")), a)  # a single array needs no name
    with pytest.raises(UserError, match=r"^\S+d\.npz holds 2 arrays \(x, y\); name one as"):
        load_samples(str(tmp_path / "d.npz"))  # the message itself, not wrapped as an unreadable file
    body = "1\t2.5\n3\t-4\n5\t6\n"
    for head in ("", "a\tb\n", "# c\n\nname one\tname two\n"):  # header detected as for .csv
        assert np.array_equal(load_samples(_write(tmp_path, "t.tsv", head + body)), a)
    assert np.array_equal(load_samples(_write(tmp_path, "t.tab", body)), a)
    assert np.array_equal(load_samples(_write(tmp_path, "c.csv", "u,v\n" + body.replace("\t", ","))), a)


@pytest.mark.parametrize(
    ("make", "msg"),
    [
        (lambda t: np.savez(t / "m.npz", a=np.ones(3), b=np.ones(3)) or str(t / "m.npz"), "(a, b); name one"),
        (lambda t: np.savez(t / "m.npz", a=np.ones(3)) or f"{t / 'm.npz'}:zz", "has no array 'zz'"),
        (lambda t: _write(t, "m.npz", "not a zip"), "cannot read"),
        (lambda t: f"{t / 'missing.npz'}:x", "file not found"),
        (lambda t: np.savez(t / "s.npz", a=np.array(["u", "v"])) or f"{t / 's.npz'}:a", "must hold numbers"),
        (lambda t: _write(t, "a.tsv", "1\t2\n3\tx\n"), "line 2, column 2 has a non-numeric"),
        (lambda t: _write(t, "a.tsv", "1\t2\n3\n"), "different numbers of columns"),
        (lambda t: _write(t, "a.tsv", "1,2\n3,4\n"), "non-numeric"),  # commas in a .tsv: one text cell
    ],
)
def test_format_errors_exit_2_with_one_line(tmp_path: Path, pair, capsys, make, msg) -> None:
    np.save(tmp_path / "ok.npy", pair[0])
    assert main(["estimate", make(tmp_path), str(tmp_path / "ok.npy"), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("infomax: error: ") and err.count("\n") == 1 and msg in err


def test_parquet_without_pyarrow_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    pytest.importorskip("numpy")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed here: .parquet files are read")
    p = _write(tmp_path, "d.parquet", "PAR1")
    assert main(["estimate", p, p, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the optional package pyarrow" in err


def test_quick_json_carries_the_interval(tmp_path: Path, capsys) -> None:
    # 2-d Gaussian pair, true MI 1.0 nat: the critic-free estimators read it within noise
    x, y = sample_correlated_gaussian_np(3000, 2, mi_to_rho(1.0, 2), seed=1)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    f = tmp_path / "d.npz"
    assert main(["estimate", f"{f}:x", f"{f}:y", "--quick", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "quick" and d["chosen"] in ("gaussian", "ksg", "ksg_scaled")
    assert set(d["estimates"]) == {"gaussian", "ksg", "ksg_scaled", "radial"}
    assert d["mi_nats"] == max(d["estimates"].values())
    lo, hi = d["interval_nats"]
    # a 90% interval misses 1 time in 10: this seed reads 1.03 (+1.8 stderr), just above, so a margin
    assert lo < d["mi_nats"] < hi and lo - 0.02 < 1.0 < hi and abs(d["mi_nats"] - 1.0) < 0.06
    assert d["interval_bits"] == pytest.approx([lo / math.log(2), hi / math.log(2)])
    assert main(["estimate", f"{f}:x", f"{f}:y", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "90% interval: [" in out and "method=quick chosen=" in out


def test_high_mi_for_the_sample_size_warns(tmp_path: Path, capsys) -> None:
    # true MI 3 nats per dim pair x 2 = 6 nats from 400 samples: beyond half of log(400) = 3.0
    x, y = sample_correlated_gaussian_np(400, 2, mi_to_rho(6.0, 2), seed=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--quick", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["mi_nats"] > 3.0 and "more than half of log(n) = 5.99" in err
