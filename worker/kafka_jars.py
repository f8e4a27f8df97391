"""Apache Kafka's jars for the development broker, fetched by the package itself.

``libs()`` returns a folder of the jars Kafka's broker needs, found in this order:

1. ``KAFKA_LIBS``: a folder of Kafka's jars (the ``libs/`` of a Kafka download);
2. the cache ``~/.cache/dali-stream-worker/kafka-<version>/libs`` when it is complete;
3. Maven Central over HTTPS (``urllib``; ``DSW_MAVEN_REPOSITORY`` names a mirror): the jars of
   the pinned list below, each checked against its size and SHA-256 before it is kept, so that
   ``pip install`` is the whole set-up (no Maven, no Kafka download);
4. ``mvn dependency:copy-dependencies``, only for a Kafka version that is not pinned here
   (``DSW_KAFKA_VERSION``).

HTTPS trusts the CA file named by ``SSL_CERT_FILE``, ``PIP_CERT`` or ``REQUESTS_CA_BUNDLE`` when
one is set (a proxy's CA, as pip is given it), else the system's store, else certifi's bundle
(pip's own copy when certifi is not installed). A download that does not match its pin is
discarded and refused: the list was made from Maven Central and checked against its ``.sha1``
files by ``python -m worker.kafka_jars --regenerate`` (needs ``mvn``; rewrites the list in this
file).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

KAFKA_VERSION = os.environ.get("DSW_KAFKA_VERSION", "4.1.0")
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dali-stream-worker"

# What the list resolves: Kafka's broker, and a log4j binding (without one the broker logs
# nothing, and a failed start says nothing); Kafka pulls slf4j-api 1.7, which cannot see the
# slf4j2 binding, so slf4j-api 2 is named too.
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dali-stream-worker</groupId><artifactId>kafka-libs</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version></dependency>
  </dependencies>
</project>
"""

# group:artifact:version size sha256, per Kafka version (written by --regenerate)
PINNED = {
    "4.1.0": """
# BEGIN PINNED 4.1.0
    com.dynatrace.hash4j:hash4j:0.22.0 316573 23028a3fd006e530bf495f551083208187cafd8f80624d048eba56442f16a50e
    com.fasterxml.jackson.core:jackson-annotations:2.19.0 78580 ead60e9cac0e42b57092b9e2d087ff43536e9477d4486ba393037a8cc156cda7
    com.fasterxml.jackson.core:jackson-core:2.19.0 599926 da8e859bac94874528116a25f20c68560e4287acbf27628711b8a4f96b028430
    com.fasterxml.jackson.core:jackson-databind:2.19.0 1678748 ceda311f476c3b18e1d2b240c94e2dcb9c8d44e70f8afa9facab88bac4ddc03a
    com.fasterxml.jackson.dataformat:jackson-dataformat-csv:2.19.0 106990 bec1150426b0616bb488149b952b45a0dcb16d9416b017c38f6455ad9389bc68
    com.fasterxml.jackson.dataformat:jackson-dataformat-yaml:2.19.0 60230 46e54dcbd39d4d12cda18ec9276e7b888e08fc765ea0c77e71662306f0d4abc4
    com.fasterxml.jackson.datatype:jackson-datatype-jdk8:2.19.0 36215 04f1a3f9da8155995dd00098d6847cdb9b7af67f4a3028c94031eff017c8e3e5
    com.github.ben-manes.caffeine:caffeine:3.2.0 906581 ec411dfdf0c03f25218648ce89861630b71680e5858a9a7278ebac8e55cab3d7
    com.github.luben:zstd-jni:1.5.6-10 7305999 b6c3237e24b8252a5a9c3a0e1ae30ef8f323412e74bd358548b7a9e527d676df
    com.google.re2j:re2j:1.8 114335 7b52c72156dd7f98b3237a5b35c1d34fba381b21048c89208913ad80a45dfbd7
    com.typesafe.scala-logging:scala-logging_2.13:3.9.5 61858 87a3017d3f43e6ace7566fe4c3d615134c6914ff871c8d64bb32ca1d996d0545
    com.yammer.metrics:metrics-core:2.2.0 82123 6b7a14a6f34c10f8683f7b5e2f39df0f07b58c7dff0e468ebbc713905c46979c
    commons-beanutils:commons-beanutils:1.9.4 246918 7d938c81789028045c08c065e94be75fc280527620d5bd62b519d5838532368a
    commons-collections:commons-collections:3.2.2 588337 eeeae917917144a68a741d4c0dff66aa5c5c5fd85593ff217bced3fc8ca783b8
    commons-digester:commons-digester:2.1 196768 e0b2b980a84fc6533c5ce291f1917b32c507f62bcad64198fff44368c2196a3d
    commons-logging:commons-logging:1.3.2 71613 6b858424f518015f32bfcd1183a373f4a827d72d026b6031da0c91cf0e8f3489
    commons-validator:commons-validator:1.9.0 201424 c3c14748e2d78db58df88808740711bd643b32c45ffa7b8a739f00fb467cd7d7
    net.sf.jopt-simple:jopt-simple:5.0.4 78146 df26cc58f235f477db07f753ba5a3ab243ebe5789d9f89ecf68dd62ea9a66c28
    net.sourceforge.argparse4j:argparse4j:0.7.0 90347 65ceb669d88f63306c680f8088bbf765bbca72d288a61a03703000076c3d3f56
    org.apache.kafka:kafka-clients:4.1.0 9762382 eb74709dc3be35e06208827860c87a94872e8a4b00f466880670785c85a20627
    org.apache.kafka:kafka-coordinator-common:4.1.0 100840 ceb4fac769379576d0901ab7d016bd886d91b0285a5a851183a49e0c735c182e
    org.apache.kafka:kafka-group-coordinator:4.1.0 914800 b2528196721c9e3c675c0e214d68a1a6e6c5b489f491b3a52ced850b066dfcae
    org.apache.kafka:kafka-group-coordinator-api:4.1.0 11914 526002cced845e759f0d31ae19f27e2b962caf832d2214eba97e1629b7454c26
    org.apache.kafka:kafka-metadata:4.1.0 840906 d11d14a04391776f0d52dcebcdc4cc7438495984cd5213b62c0e70dc8b81e2fc
    org.apache.kafka:kafka-raft:4.1.0 309751 0d56f0f0735be4fd2c25da02034ae2d7dd0764298cef7d197e99cb8650e1bb1a
    org.apache.kafka:kafka-server:4.1.0 219116 fb7765a18b46b6635eae385fb1d890955aa67960aa408d5dfe48c17f2d400b9a
    org.apache.kafka:kafka-server-common:4.1.0 369891 73b8b467597429cc0f3c959b0bb1181556071aaab13a6240b9877a37a8c312d0
    org.apache.kafka:kafka-share-coordinator:4.1.0 111683 4c6532e878cc0fccad8b1c60b99ecf69d8b94b55beeee57f5546ad4dba5965e5
    org.apache.kafka:kafka-storage:4.1.0 590150 d4b5cebcd9aeeb2db68b6ff3922bf08e776bb7d4c90f1045768267192625c810
    org.apache.kafka:kafka-storage-api:4.1.0 26987 d8bb549e8c2bbb9bef4078983e9e4bb63f71e305fd07703cd2798cb7064903df
    org.apache.kafka:kafka-tools-api:4.1.0 9072 2127f95153a53b8b4fc46e90e08a0b6c0d40f9faee386fff17ab0c3882e881ba
    org.apache.kafka:kafka-transaction-coordinator:4.1.0 50212 b55df4f4500ddab992648326d8d0854a386215646f7ca6982dcd939ebb1d2630
    org.apache.kafka:kafka_2.13:4.1.0 2062038 0de0471a4c7a9e734c166822a26a4bb064eb81cb2c7a8b1345912cad78997a7b
    org.apache.logging.log4j:log4j-api:2.24.3 348513 5b4a0a0cd0e751ded431c162442bdbdd53328d1f8bb2bae5fc1bbeee0f66d80f
    org.apache.logging.log4j:log4j-core:2.24.3 1914666 7eb4084596ae25bd3c61698e48e8d0ab65a9260758884ed5cbb9c6e55c44a56a
    org.apache.logging.log4j:log4j-slf4j2-impl:2.24.3 30133 cdaac22e40ec30c4096e1ebe8c454c8826c0d1c378d7db5d7b3ad166354b0bd3
    org.bitbucket.b_c:jose4j:0.9.6 299502 7314af50cde9c99e8eaf43eee617a23edcc6bb43036221064355094999d837ef
    org.hdrhistogram:HdrHistogram:2.2.2 177206 22d1d4316c4ec13a68b559e98c8256d69071593731da96136640f864fa14fad8
    org.jspecify:jspecify:1.0.0 3819 1fad6e6be7557781e4d33729d49ae1cdc8fdda6fe477bb0cc68ce351eafdfbab
    org.lz4:lz4-java:1.8.0 682804 d74a3334fb35195009b338a951f918203d6bbca3d1d359033dc33edd1cadc9ef
    org.pcollections:pcollections:4.0.2 73718 2bbeef5797a241300c4f7513cd546239629ed7deda4fc0c31df90bb95f5f13ef
    org.scala-lang:scala-library:2.13.16 5926340 1ebb2b6f9e4eb4022497c19b1e1e825019c08514f962aaac197145f88ed730f1
    org.scala-lang:scala-reflect:2.13.16 3801119 fb49ccd9cac7464486ab993cda20a3c1569d8ef26f052e897577ad2a4970fb1d
    org.slf4j:slf4j-api:2.0.17 69908 7b751d952061954d5abfed7181c1f645d336091b679891591d63329c622eb832
    org.xerial.snappy:snappy-java:1.1.10.7 2338496 4c766cb3f855415ee734b2392949a0b6f12a60879334a74518deaf6270d32e36
    org.yaml:snakeyaml:2.4 339825 ef779af5d29a9dde8cc70ce0341f5c6f7735e23edff9685ceaa9d35359b7bb7f
# END PINNED 4.1.0
""",
}


class KafkaJarsError(RuntimeError):
    """Kafka's jars could not be found, fetched or verified."""


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def url(self, repository: str) -> str:
        return (f"{repository.rstrip('/')}/{self.group.replace('.', '/')}/{self.artifact}/"
                f"{self.version}/{self.filename}")


def pinned(version: str = KAFKA_VERSION) -> list[Jar]:
    """The pinned jars of a Kafka version ([] when it has no list)."""
    jars = []
    for line in PINNED.get(version, "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        coords, size, sha = line.split()
        group, artifact, ver = coords.split(":")
        jars.append(Jar(group, artifact, ver, int(size), sha))
    return jars


def ssl_context() -> ssl.SSLContext:
    """Verify servers with the CA file pip would be given, else the system's, else certifi's."""
    for var in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"):
        cafile = os.environ.get(var)
        if cafile and Path(cafile).is_file():
            return ssl.create_default_context(cafile=cafile)
    ctx = ssl.create_default_context()
    if not ctx.cert_store_stats().get("x509_ca"):  # no system store (a bare container)
        with contextlib.suppress(ImportError):
            try:
                import certifi
            except ImportError:
                from pip._vendor import certifi  # pip is in every venv
            ctx.load_verify_locations(cafile=certifi.where())
    return ctx


def verify(path: Path, jar: Jar) -> None:
    """Raise KafkaJarsError unless ``path`` has the pinned size and SHA-256."""
    size = path.stat().st_size
    if size != jar.size:
        raise KafkaJarsError(f"{jar.filename}: {size} bytes, the pinned file has {jar.size} "
                             f"(a download cut short, or a different file)")
    digest = _sha256(path)
    if digest != jar.sha256:
        raise KafkaJarsError(f"{jar.filename}: SHA-256 {digest} does not match the pinned "
                             f"{jar.sha256}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(jar: Jar, folder: Path, repository: str, ctx: ssl.SSLContext,
              count: Callable[[int], None], attempts: int = 3) -> None:
    """One jar into ``folder``, verified; a file already there that verifies is kept."""
    dest = folder / jar.filename
    if dest.exists():
        try:
            verify(dest, jar)
            count(jar.size)
            return
        except KafkaJarsError:
            dest.unlink()
    url = jar.url(repository)
    for attempt in range(1, attempts + 1):
        part = folder / f".{jar.filename}.part"
        got = 0
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=60) as resp, open(part, "wb") as out:
                for chunk in iter(lambda: resp.read(1 << 18), b""):
                    out.write(chunk)
                    got += len(chunk)
                    count(len(chunk))
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            count(-got)
            part.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            if attempt == attempts or (isinstance(exc, urllib.error.HTTPError) and exc.code == 404):
                hint = (" (HTTPS certificate: set SSL_CERT_FILE to the CA bundle pip uses)"
                        if isinstance(reason, ssl.SSLError) else "")
                raise KafkaJarsError(f"could not fetch {url}: {reason}{hint}; set KAFKA_LIBS to a "
                                     f"folder of Kafka's jars, or DSW_MAVEN_REPOSITORY to a "
                                     f"Maven mirror") from None
            time.sleep(attempt)
            continue
        try:
            verify(part, jar)
        except KafkaJarsError as exc:
            part.unlink(missing_ok=True)
            raise KafkaJarsError(f"refused {url}: {exc}; the file was discarded. A proxy or mirror "
                                 f"changed it, or it is not the file pinned in worker/kafka_jars.py"
                                 ) from None
        part.rename(dest)
        return


def fetch(jars: list[Jar], libs: Path, repository: str | None = None,
          progress: Callable[[str], None] | None = None, threads: int = 4) -> Path:
    """Download ``jars`` into ``libs`` (made anew), each verified; file-locked, so that two
    processes filling one cache wait for each other. Files of an interrupted run that verify
    are reused. ``progress`` gets a line now and then."""
    import fcntl

    repository = repository or os.environ.get("DSW_MAVEN_REPOSITORY") or MAVEN_CENTRAL
    say = progress or (lambda line: None)
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(libs, jars):
            return libs
        partial = libs.parent / f"{libs.name}.partial"
        if libs.is_dir() and not partial.exists():
            libs.rename(partial)  # an older cache (mvn's): its files that verify are kept
        partial.mkdir(exist_ok=True)
        wanted = {j.filename for j in jars}
        for stray in partial.iterdir():
            if stray.name not in wanted:  # on the classpath, a jar of another version would clash
                stray.unlink() if stray.is_file() else shutil.rmtree(stray)
        total = sum(j.size for j in jars)
        say(f"fetching Kafka's {len(jars)} jars ({total / 1e6:.0f} MB) from {repository} "
            f"into {libs} (once)")
        done = {"bytes": 0, "said": time.monotonic()}
        start = time.monotonic()

        def count(n: int) -> None:
            done["bytes"] += n
            now = time.monotonic()
            if now - done["said"] >= 2:
                done["said"] = now
                say(f"  {done['bytes'] / 1e6:.0f} of {total / 1e6:.0f} MB")

        ctx = ssl_context()
        pool = ThreadPoolExecutor(threads, thread_name_prefix="kafka-jars")
        try:
            for future in [pool.submit(_download, j, partial, repository, ctx, count) for j in jars]:
                future.result()
        finally:  # a refused jar or Ctrl-C: the files not started are not fetched
            pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        (libs / ".complete").write_text(_stamp(jars))
        say(f"  {total / 1e6:.0f} MB in {time.monotonic() - start:.1f} s")
        return libs


def _stamp(jars: list[Jar]) -> str:
    return hashlib.sha256("\n".join(f"{j.filename} {j.sha256}" for j in jars).encode()).hexdigest()


def _complete(libs: Path, jars: list[Jar]) -> bool:
    marker = libs / ".complete"
    return marker.exists() and marker.read_text().strip() == _stamp(jars)


def libs(version: str = KAFKA_VERSION, progress: Callable[[str], None] | None = None) -> Path:
    """Folder of Kafka's jars (see the module's docstring for the order)."""
    env = os.environ.get("KAFKA_LIBS")
    if env:
        folder = Path(env)
        if not any(folder.glob("kafka_2.13-*.jar")):
            raise KafkaJarsError(f"KAFKA_LIBS={env} holds no kafka_2.13-*.jar")
        return folder
    folder = CACHE_ROOT / f"kafka-{version}" / "libs"
    jars = pinned(version)
    if jars:
        if _complete(folder, jars):
            return folder
        return fetch(jars, folder, progress=progress)
    if any(folder.glob("kafka_2.13-*.jar")) and (folder / ".complete").exists():
        return folder  # filled by mvn for an unpinned version
    return _maven_copy(version, folder)


def _maven_copy(version: str, folder: Path) -> Path:
    """An unpinned Kafka version: let Maven resolve its dependencies."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaJarsError(
            f"Kafka {version} has no pinned jar list here (pinned: {', '.join(PINNED)}) and Maven "
            "is not installed: install Maven, or set KAFKA_LIBS to a folder of Apache Kafka's "
            "jars (the libs/ of a Kafka download)")
    work = folder.parent
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(POM.format(kafka=version, log4j=LOG4J_VERSION, slf4j=SLF4J_VERSION))
    tmp = work / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(
        [mvn, "-q", "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise KafkaJarsError(f"mvn could not resolve Kafka {version}:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    (folder / ".complete").write_text(version)
    return folder


# ---- making the pinned list (a development task; needs mvn) ----

def resolve(version: str) -> list[Jar]:
    """Resolve Kafka ``version`` with mvn, check every jar against Maven Central's ``.sha1``,
    and return the list with sizes and SHA-256 digests."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaJarsError("--regenerate needs mvn")
    with tempfile.TemporaryDirectory(prefix="kafka-jars-") as tmp:
        pom, listing = Path(tmp) / "pom.xml", Path(tmp) / "deps.txt"
        pom.write_text(POM.format(kafka=version, log4j=LOG4J_VERSION, slf4j=SLF4J_VERSION))
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:list", f"-DoutputFile={listing}",
             "-DoutputAbsoluteArtifactFilename=true", "-DincludeScope=runtime"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise KafkaJarsError(f"mvn dependency:list failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
        lines = listing.read_text().splitlines()
    ctx, jars = ssl_context(), []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) < 6 or parts[2] != "jar":
            continue
        group, artifact, _, ver, _scope, path = parts[:6]
        path = Path(":".join(parts[5:]))
        jar = Jar(group, artifact, ver, path.stat().st_size, _sha256(path))
        with urllib.request.urlopen(jar.url(MAVEN_CENTRAL) + ".sha1", context=ctx, timeout=60) as r:
            central = r.read().decode().split()[0].strip()
        local = hashlib.sha1(path.read_bytes()).hexdigest()
        if central != local:
            raise KafkaJarsError(f"{path}: SHA-1 {local}, Maven Central says {central}")
        jars.append(jar)
    return sorted(jars, key=lambda j: (j.group, j.artifact))


def regenerate(version: str) -> None:
    jars = resolve(version)
    body = "".join(f"    {j.group}:{j.artifact}:{j.version} {j.size} {j.sha256}\n" for j in jars)
    src = Path(__file__).read_text()
    begin, end = f"# BEGIN PINNED {version}\n", f"# END PINNED {version}\n"
    if begin in src:
        head, rest = src.split(begin, 1)
        src = head + begin + body + end + rest.split(end, 1)[1]
    else:
        src = src.replace("PINNED = {\n", f'PINNED = {{\n    "{version}": """\n{begin}{body}{end}""",\n', 1)
    Path(__file__).write_text(src)
    print(f"pinned {len(jars)} jars of Kafka {version} ({sum(j.size for j in jars) / 1e6:.0f} MB) "
          f"in {__file__}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Fetch Kafka's jars into the cache, or pin a version's list.")
    p.add_argument("--version", default=KAFKA_VERSION)
    p.add_argument("--regenerate", action="store_true",
                   help="resolve the version with mvn, check against Maven Central, rewrite the list here")
    args = p.parse_args(argv)
    try:
        if args.regenerate:
            regenerate(args.version)
        else:
            print(libs(args.version, progress=lambda line: print(line, flush=True)))
    except KafkaJarsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
