"""doctor's integrity section: SQLite's own check, the sealed days against their figures,
the write-ahead log's frames, and the ledger of losses."""

from __future__ import annotations

import time
from pathlib import Path

from luxlogd.base.text import count
from luxlogd.doctor.report import SHOWN, Section
from luxlogd.health.status import process_alive, read_status
from luxlogd.store import frames, losses
from luxlogd.store.codec import decode_records
from luxlogd.store.paths import WAL_DIRECTORY
from luxlogd.store.reader import Reader

RECENT_LOSS_S = 30 * 86400  # a loss this recent is a problem; older ones a warning


DAMAGED = (
    "restart the daemon (systemctl restart luxlogd): at start it moves a damaged "
    "database aside (luxlogd.sqlite.damaged-*) and rebuilds it from what is readable "
    "and the write-ahead log"
)


def daemon_running(state_dir: Path) -> bool:
    status = read_status(state_dir)
    return status is not None and process_alive(status.get("pid"))


def integrity(reader: Reader, state_dir: Path, full: bool, now: float) -> Section:
    section = Section("integrity")
    _wal_frames(section, state_dir / WAL_DIRECTORY, daemon_running(state_dir))
    if reader.problem is not None:
        section.add("problem", f"the database cannot be read: {reader.problem}", DAMAGED)
    else:
        check = "integrity_check" if full else "quick_check"
        result = reader.database_check(full)
        if result == "ok":
            section.add("ok", f"SQLite {check}: ok")
        elif result is not None:
            section.add("problem", f"SQLite {check} finds damage: {result[:300]}", DAMAGED)
    try:
        checked, sealed, problems = reader.verify_sealed(None if full else 8)
    except Exception as error:  # a damaged page can surface as any sqlite3 error here
        checked, sealed, problems = 0, 0, [f"cannot be read: {error}"]
    section.facts.update(sealed_days=sealed, sealed_days_checked=checked)
    if problems:
        section.add(
            "problem",
            "; ".join(problems[:5]),
            "the raw values of other days are "
            "intact; restart the daemon to rebuild, and report this as a bug",
        )
    elif sealed:
        which = "all" if checked == sealed else f"{checked} of {sealed}"
        section.add("ok", f"{which} sealed days agree with their hourly figures")
    _losses(section, state_dir, now)
    lost = reader.lost_blocks()
    if lost:
        section.add(
            "warning",
            f"{lost} series-days could not be rescued when the database was "
            "rebuilt: their values are unknown (gaps in charts)",
            "nothing to do; the rest is intact",
        )
    return section


def _losses(section: Section, state_dir: Path, now: float) -> None:
    """Every loss the daemon told (damage, rebuilds, polls dropped while storage failed)."""
    told = losses.read_losses(state_dir)
    section.facts["losses"] = [
        {"ts": x.ts, "kind": x.kind, "polls_lost": x.polls_lost, "seqs": x.seqs, "detail": x.detail}
        for x in told
    ]
    if not told:
        section.add("ok", "no stored poll was ever lost or damaged (ledger of losses empty)")
        return
    total = sum(x.polls_lost for x in told)
    recent = [x for x in told if now - x.ts < RECENT_LOSS_S]
    level = "problem" if recent else "warning"
    section.add(
        level,
        f"{count(len(told), 'damage event')}, {count(total, 'poll')} lost in "
        f"all; the last: {told[-1].text()}",
        "check the disk (an SD card that loses "
        "writes on power cuts? dmesg, smartctl); luxlogd kept everything it "
        "could",
    )
    for loss in told[-SHOWN:]:
        section.details.append(loss.text())


def _wal_frames(section: Section, directory: Path, daemon_running: bool) -> None:
    """Every frame's checksum and sequence, every record decodable."""
    paths = frames.segment_paths(directory)
    framed, damaged = 0, []
    records: list[frames.Record] = []
    expected: int | None = None
    for position, path in enumerate(paths):
        data = _read_settled(path, daemon_running and position == len(paths) - 1)
        if data is None:
            continue
        found = frames.scan(data, int(path.stem))
        seqs = [seq for seq, _ in found.records]
        first = expected if expected is not None else int(path.stem)
        missing = sum(b - a + 1 for a, b in frames.missing_between(seqs, first))
        if missing:
            damaged.append(f"{path.name}: {count(missing, 'record')} missing")
        framed += len(found.records)
        base = frames.read_base(path, found)
        records += [frames.Record(seq, payload, base) for seq, payload in found.records]
        if seqs:
            expected = seqs[-1] + 1
        live_tail = daemon_running and position == len(paths) - 1 and found.torn_tail
        for start, end in found.damaged:
            if live_tail and (start, end) == found.damaged[-1]:
                continue  # the record being written right now
            damaged.append(f"{path.name}: {end - start} bytes at {start} that are not whole frames")
    aside = sorted(p.name for p in directory.glob("*.damaged*"))
    section.facts.update(
        wal_frames=framed, wal_segments=len(paths), wal_damaged=damaged, wal_moved_aside=aside
    )
    decoded = sum(1 for _ in decode_records(records))
    if damaged:
        section.add(
            "problem",
            "write-ahead log: " + "; ".join(damaged),
            "a torn write (a crash or power cut while writing): no acknowledged poll is "
            "in it. Restart the daemon; it moves the damaged bytes aside",
        )
    elif decoded != framed:
        section.add(
            "problem",
            f"write-ahead log: {framed - decoded} of {framed} records cannot be decoded",
            "report this as a bug, with the wal directory",
        )
    else:
        where = f"{count(framed, 'frame')} in {count(len(paths), 'segment')}"
        section.add(
            "ok", f"write-ahead log: {where} verified (checksums, numbering, every record readable)"
        )
    if aside:
        section.add(
            "info",
            f"earlier damage was moved aside: {', '.join(aside[:3])}"
            + (" ..." if len(aside) > 3 else "")
            + " (no acknowledged poll is in them;"
            " they may be deleted)",
        )


def _read_settled(path: Path, live: bool) -> bytes | None:
    """A segment's bytes; the one being written is read again after a moment when its tail
    looks torn (the daemon may be in the middle of an append)."""
    try:
        data = path.read_bytes()
        if live and frames.scan(data, int(path.stem)).damaged:
            time.sleep(0.2)
            data = path.read_bytes()
        return data
    except FileNotFoundError:  # the daemon removed it meanwhile: its records are in SQLite
        return None
