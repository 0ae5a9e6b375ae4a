"""Finding, verifying and downloading the four IDX files of MNIST-style datasets.

Search order when dataset.data_dir is null: $NNEXP_DATA_DIR/<name>, the dataset's usual place on
a machine (Debian's dataset-fashion-mnist package for Fashion-MNIST), then the download cache
pooch.os_cache("nnexp")/<name>. An explicit data_dir is the only place searched. `mnist10k` is
shipped inside the package (nnexp/data/mnist10k/) and read only from there. A directory holding a SHA256SUMS file has every listed file checked against it.
Downloads go through pooch with the official files' md5 sums (as listed by torchvision's
datasets/mnist.py). pooch is imported only where it is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nnexp.errors import DataError

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
PACKAGED = Path(__file__).resolve().parent / "mnist10k"  # the 10,000-digit MNIST subset shipped with nnexp


@dataclass(frozen=True)
class Source:
    """Where a dataset lives on these machines and where its official .gz files are downloaded from."""

    local_dir: Path | None
    mirrors: tuple[str, ...]
    hashes: dict  # stem -> pooch known_hash of <stem>.gz


SOURCES = {
    "mnist10k": Source(local_dir=PACKAGED, mirrors=(), hashes={}),  # 7,996 + 2,004 real digits, offline
    "mnist": Source(
        local_dir=None,  # the full MNIST: $NNEXP_DATA_DIR/mnist, dataset.data_dir or the download cache
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        hashes={
            "train-images-idx3-ubyte": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "md5:9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "md5:ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion_mnist": Source(
        local_dir=Path("/usr/share/datasets/fashion-mnist"),  # Debian package dataset-fashion-mnist
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        hashes={
            "train-images-idx3-ubyte": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


def cache_dir(name: str) -> Path:
    """Where downloads go when dataset.data_dir is null."""
    import pooch

    return Path(pooch.os_cache("nnexp")) / name


def search_dirs(name: str, data_dir: str | None) -> list[Path]:
    """The directories searched, in order."""
    if name == "mnist10k":
        return [PACKAGED]
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    dirs = []
    if os.environ.get("NNEXP_DATA_DIR"):
        dirs.append(Path(os.environ["NNEXP_DATA_DIR"]).expanduser() / name)
    if SOURCES[name].local_dir is not None:
        dirs.append(SOURCES[name].local_dir)
    dirs.append(cache_dir(name))
    return dirs


def files_in(directory: Path) -> dict[str, Path] | None:
    """stem -> path of the four files in `directory` (<stem>.gz preferred over <stem>), or None."""
    found = {}
    for stem in STEMS:
        candidates = [directory / f"{stem}.gz", directory / stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found[stem] = path
    return found


def verify_checksums(directory: Path, files: dict[str, Path]) -> None:
    """Check each file listed in directory/SHA256SUMS (`<sha256>  <file name>` lines)."""
    sums_file = directory / "SHA256SUMS"
    if not sums_file.is_file():
        return
    import pooch

    expected = {}
    for line in sums_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0].lower()
    for path in files.values():
        if path.name in expected:
            actual = pooch.file_hash(str(path), alg="sha256")
            if actual != expected[path.name]:
                raise DataError(f"{path}: sha256 {actual} does not match {expected[path.name]} in {sums_file}; "
                                "the file is corrupt or was replaced, restore it")


def _missing(name: str, dirs: list[Path], why: str) -> DataError:
    names = ", ".join(f"{stem}.gz" for stem in STEMS)
    where = ", ".join(str(d) for d in dirs)
    there = "there" if len(dirs) == 1 else "in one of them"
    offline = "; offline, dataset=mnist10k is the 10,000-digit subset shipped with nnexp" if name == "mnist" else ""
    return DataError(f"{name}: files not found in {where}; put {names} (or the same names without .gz) "
                     f"{there} or set dataset.data_dir=DIR ({why}){offline}")


def locate(name: str, data_dir: str | None) -> tuple[Path | None, dict[str, Path] | None, list[Path]]:
    """(directory, files, dirs searched) for the first searched directory holding all four files."""
    dirs = search_dirs(name, data_dir)
    for directory in dirs:
        files = files_in(directory)
        if files is not None:
            return directory, files, dirs
    return None, None, dirs


def check(name: str, data_dir: str | None, download: bool, base_url: str | None = None) -> Path:
    """Pre-flight without loading: the directory that holds the files.

    Files missing everywhere are downloaded now when download is true (once, into the cache or
    data_dir), so that a sweep's jobs find them and a failed download stops the command before
    any run exists. Raises DataError when the files are missing and cannot be downloaded.
    """
    directory, _, dirs = locate(name, data_dir)
    if directory is None:
        directory, _ = dataset_files(name, data_dir, download, base_url)
    return directory


def _short(exc: Exception) -> str:
    """One short line for a failed download: for connection errors just the innermost reason."""
    inner = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError
    if inner is not None:
        text = str(inner).rsplit("): ", 1)[-1]  # drop "HTTPSConnection(host=..., port=...): "
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _download(name: str, target: Path, base_url: str | None) -> dict[str, Path]:
    """Fetch the four .gz files into `target`, trying each mirror; DataError naming the last failure."""
    import pooch

    pooch.get_logger().setLevel("WARNING")  # its "Downloading data from ..." lines would come before our one line
    mirrors = (base_url,) if base_url else SOURCES[name].mirrors
    if not mirrors:
        raise DataError(f"{name} has no download source")
    failure = ""
    for mirror in mirrors:
        mirror = mirror if mirror.endswith("/") else mirror + "/"
        try:
            for stem in STEMS:
                url = f"{mirror}{stem}.gz"
                pooch.retrieve(url, known_hash=SOURCES[name].hashes[stem], fname=f"{stem}.gz", path=target,
                               downloader=pooch.HTTPDownloader(progressbar=False, timeout=30))
            return {stem: target / f"{stem}.gz" for stem in STEMS}
        except Exception as exc:  # network, HTTP status, hash mismatch, unwritable target: all end the same way
            failure = f"download from {url} failed: {_short(exc)}"
    raise DataError(failure)


def dataset_files(name: str, data_dir: str | None, download: bool, base_url: str | None = None) -> tuple[Path, dict[str, Path]]:
    """(directory, stem -> path) of the four verified files, downloading them if allowed and needed."""
    directory, files, dirs = locate(name, data_dir)
    if directory is None:
        if not download:
            raise _missing(name, dirs, "download disabled: dataset.download=false")
        directory = dirs[-1]  # the explicit data_dir, or the cache
        try:
            files = _download(name, directory, base_url)
        except DataError as exc:
            raise _missing(name, dirs, str(exc)) from None
    verify_checksums(directory, files)
    return directory, files
