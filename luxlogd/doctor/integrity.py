"""doctor's integrity section: SQLite's own check, the sealed days against their figures,
the write-ahead log's frames, and the ledger of losses."""

from __future__ import annotations

import time
from pathlib import Path

from luxlogd.base.words import count, number, tr
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
        section.add(
            "problem", tr("the database cannot be read: {why}", why=reader.problem), tr(DAMAGED)
        )
    else:
        check = "integrity_check" if full else "quick_check"
        result = reader.database_check(full)
        if result == "ok":
            section.add("ok", tr("SQLite {check}: ok", check=check))
        elif result is not None:
            section.add(
                "problem",
                tr("SQLite {check} finds damage: {what}", check=check, what=result[:300]),
                tr(DAMAGED),
            )
    try:
        checked, sealed, problems = reader.verify_sealed(None if full else 8)
    except Exception as error:  # a damaged page can surface as any sqlite3 error here
        checked, sealed, problems = 0, 0, [tr("cannot be read: {why}", why=error)]
    section.facts.update(sealed_days=sealed, sealed_days_checked=checked)
    if problems:
        section.add(
            "problem",
            "; ".join(problems[:5]),
            tr(
                "the raw values of other days are intact; restart the daemon to rebuild, and "
                "report this as a bug"
            ),
        )
    elif sealed:
        which = (
            tr("all")
            if checked == sealed
            else tr("{checked} of {sealed}", checked=checked, sealed=sealed)
        )
        section.add("ok", tr("{which} sealed days agree with their hourly figures", which=which))
    _losses(section, state_dir, now)
    lost = reader.lost_blocks()
    if lost:
        section.add(
            "warning",
            tr(
                "{n} series-days could not be rescued when the database was rebuilt: their "
                "values are unknown (gaps in charts)",
                n=number(lost),
            ),
            tr("nothing to do; the rest is intact"),
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
        section.add("ok", tr("no stored poll was ever lost or damaged (ledger of losses empty)"))
        return
    total = sum(x.polls_lost for x in told)
    recent = [x for x in told if now - x.ts < RECENT_LOSS_S]
    level = "problem" if recent else "warning"
    section.add(
        level,
        tr(
            "{events}, {polls} lost in all; the last: {last}",
            events=count(len(told), "damage event"),
            polls=count(total, "poll"),
            last=told[-1].text(),
        ),
        tr(
            "check the disk (an SD card that loses writes on power cuts? dmesg, smartctl); "
            "luxlogd kept everything it could"
        ),
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
            damaged.append(
                tr("{file}: {records} missing", file=path.name, records=count(missing, "record"))
            )
        framed += len(found.records)
        base = frames.read_base(path, found)
        records += [frames.Record(seq, payload, base) for seq, payload in found.records]
        if seqs:
            expected = seqs[-1] + 1
        live_tail = daemon_running and position == len(paths) - 1 and found.torn_tail
        for start, end in found.damaged:
            if live_tail and (start, end) == found.damaged[-1]:
                continue  # the record being written right now
            damaged.append(
                tr(
                    "{file}: {n} bytes at {at} that are not whole frames",
                    file=path.name,
                    n=end - start,
                    at=start,
                )
            )
    aside = sorted(p.name for p in directory.glob("*.damaged*"))
    section.facts.update(
        wal_frames=framed, wal_segments=len(paths), wal_damaged=damaged, wal_moved_aside=aside
    )
    decoded = sum(1 for _ in decode_records(records))
    if damaged:
        section.add(
            "problem",
            tr("write-ahead log: {damage}", damage="; ".join(damaged)),
            tr(
                "a torn write (a crash or power cut while writing): no acknowledged poll is in "
                "it. Restart the daemon; it moves the damaged bytes aside"
            ),
        )
    elif decoded != framed:
        section.add(
            "problem",
            tr(
                "write-ahead log: {n} of {total} records cannot be decoded",
                n=framed - decoded,
                total=framed,
            ),
            tr("report this as a bug, with the wal directory"),
        )
    else:
        section.add(
            "ok",
            tr(
                "write-ahead log: {frames} in {segments} verified (checksums, numbering, every "
                "record readable)",
                frames=count(framed, "frame"),
                segments=count(len(paths), "segment"),
            ),
        )
    if aside:
        section.add(
            "info",
            tr(
                "earlier damage was moved aside: {files} (no acknowledged poll is in them; they "
                "may be deleted)",
                files=", ".join(aside[:3]) + (" ..." if len(aside) > 3 else ""),
            ),
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
