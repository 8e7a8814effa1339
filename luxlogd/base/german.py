"""The German of every English template people read (see words.py): keys are the templates as
written in the code, values their German with the same {placeholders}."""

from __future__ import annotations

GERMAN: dict[str, str] = {
    # --- units of time, directions, small words
    "never": "nie",
    "none yet": "noch keine",
    "unknown": "unbekannt",
    "{n} days": "{n} Tage",
    "{n} years": "{n} Jahre",
    "{n} hours": "{n} Stunden",
    "{n} minutes": "{n} Minuten",
    "forward": "vor",
    "back": "zurück",
    "all": "alle",
    "local time": "Ortszeit",
    "parameters": "Parameter",
    "calculations": "Berechnungen",
    "visibilities": "Sichtbarkeiten",
    # --- status: the labels of its lines
    "daemon": "Dienst",
    "heat pump": "Wärmepumpe",
    "polls": "Abfragen",
    "polls stored": "gespeichert",
    "storage": "Speicher",
    "mqtt": "MQTT",
    "disk": "Datenträger",
    "clock": "Uhr",
    "losses": "Verluste",
    "attention": "Achtung",
    "database": "Datenbank",
    "last roll-up": "Abschluss",
    "now": "jetzt",
    "today": "heute",
    "last error": "letzter Fehler",
    "switch-off": "Abschaltung",
    # --- status: the lines
    "luxlogd status (state {path})": "luxlogd-Status (Zustand in {path})",
    "no status written yet (not started?)": "noch kein Status geschrieben (nicht gestartet?)",
    "running (pid {pid})": "läuft (PID {pid})",
    "not running": "läuft nicht",
    "{state}, status from {when}": "{state}, Status vom {when}",
    "unreachable since {since}, {failed} polls failed in a row": (
        "nicht erreichbar seit {since}, {failed} Abfragen nacheinander gescheitert"
    ),
    "reachable, last poll {when}": "erreichbar, letzte Abfrage {when}",
    "; answers slowly": "; antwortet langsam",
    " (poll #{seq})": " (Abfrage Nr. {seq})",
    "{ok} ok, {failed} failed, {late} late, {skipped} slots skipped since start": (
        "{ok} gelungen, {failed} gescheitert, {late} verspätet, {skipped} Termine ausgelassen "
        "seit dem Start"
    ),
    "FAILING: {why}": "GESTÖRT: {why}",
    "connected": "verbunden",
    "NOT connected ({why})": "NICHT verbunden ({why})",
    "connecting": "verbindet",
    "{link} to {broker}, {n} polls published since start": (
        "{link} mit {broker}, {n} Abfragen veröffentlicht seit dem Start"
    ),
    "{used} % used, {free} free (threshold {limit} %)": (
        "{used} % belegt, {free} frei (Schwelle {limit} %)"
    ),
    "the system clock jumped {direction} by {size} at {when} (see luxlogd doctor)": (
        "die Systemuhr sprang am {when} um {size} {direction} (mehr sagt luxlogd doctor)"
    ),
    "{total} polls lost to damage in all, told {times}; the last: {last}": (
        "{total} Abfragen durch Schäden verloren, {times} gemeldet; zuletzt: {last}"
    ),
    "stored data was damaged in the last day: {loss}": (
        "gespeicherte Daten wurden am letzten Tag beschädigt: {loss}"
    ),
    "the database was damaged and rebuilt at {when} ({days} days rescued); the damaged file "
    "is {path}": (
        "die Datenbank war beschädigt und wurde am {when} neu aufgebaut ({days} Tage gerettet); "
        "die beschädigte Datei ist {path}"
    ),
    "never (scheduled)": "nie (planmäßig)",
    "{name} at {when}, {files} (scheduled)": "{name} am {when}, {files} (planmäßig)",
    "{name} at {when}, {files} (rollup --now)": "{name} am {when}, {files} (rollup --now)",
    "recent warnings (from the journal):": "letzte Warnungen (aus dem Journal, englisch):",
    "UNHEALTHY: ": "NICHT IN ORDNUNG: ",
    "healthy": "in Ordnung",
    " since {when}": " seit {when}",
    "compressor {state}": "Verdichter {state}",
    " (poll of {when})": " (Abfrage vom {when})",
    "heat output: ": "Heizleistung: ",
    "; COP last hour: ": "; COP letzte Stunde: ",
    "; COP now: {cop}": "; COP jetzt: {cop}",
    "heat {heat}, electric {electric}, COP {cop}, {starts} starts, {hours} running, "
    "{per_run} per run": (
        "Wärme {heat}, Strom {electric}, COP {cop}, {starts} Starts, {hours} Laufzeit, "
        "{per_run} je Lauf"
    ),
    "{code} {text} at {when}": "{code} {text} am {when}",
    "none (no data in the state directory)": "keine (keine Daten im Zustandsverzeichnis)",
    " ({n} only in the write-ahead log)": " ({n} nur im Schreibprotokoll)",
    ", {start} to {end}": ", {start} bis {end}",
    "{polls} stamped by a wrong system clock is kept apart (luxlogd doctor says more)": (
        "{polls} mit falscher Systemzeit wird getrennt gehalten (mehr sagt luxlogd doctor)"
    ),
    "{polls} stamped by a wrong system clock are kept apart (luxlogd doctor says more)": (
        "{polls} mit falscher Systemzeit werden getrennt gehalten (mehr sagt luxlogd doctor)"
    ),
    "database {database}, write-ahead log {wal}": "Datenbank {database}, Schreibprotokoll {wal}",
    "damaged ({why}); restart the daemon (systemctl restart luxlogd): it moves the file aside "
    "and rebuilds it": (
        "beschädigt ({why}); den Dienst neu starten (systemctl restart luxlogd): er legt die "
        "Datei beiseite und baut sie neu auf"
    ),
    "unreadable, reading the write-ahead log only: {why}": (
        "nicht lesbar, nur das Schreibprotokoll wird gelesen: {why}"
    ),
    # --- the health rule
    "the daemon has not run": "der Dienst ist noch nie gelaufen",
    "the daemon is not running": "der Dienst läuft nicht",
    "the daemon has not updated its status since {when} (stuck, or nowhere to write it)": (
        "der Dienst hat seinen Status seit {when} nicht erneuert (hängt, oder kann ihn nirgends "
        "schreiben)"
    ),
    "no poll stored since {when}": "keine Abfrage gespeichert seit {when}",
    "storage failing: {why}": "Speicherung gestört: {why}",
    "{why}: polls are kept apart": "{why}: Abfragen werden getrennt gehalten",
    # --- the ledger of losses
    "damaged records in the write-ahead log": "beschädigte Einträge im Schreibprotokoll",
    "damaged database rebuilt": "beschädigte Datenbank neu aufgebaut",
    "polls dropped while storage failed": "verworfene Abfragen während gestörter Speicherung",
    "{when}: {what}, {polls} lost{span} ({detail})": (
        "{when}: {what}, {polls} verloren{span} ({detail})"
    ),
    " between {start} and {end}": " zwischen {start} und {end}",
    # --- the diary's reasons for gaps
    "luxlogd was stopped at {when}": "luxlogd wurde am {when} beendet",
    " and started at {when}": " und am {when} gestartet",
    "luxlogd was not running until {when} and had not stopped cleanly (a power cut, a crash "
    "or kill -9)": (
        "luxlogd lief bis {when} nicht und war nicht sauber beendet worden (ein Stromausfall, "
        "ein Absturz oder kill -9)"
    ),
    "the heat pump was unreachable": "die Wärmepumpe war nicht erreichbar",
    "polls could not be stored": "Abfragen konnten nicht gespeichert werden",
    "no record of why (luxlogd's diary, events.jsonl, has nothing for this time)": (
        "kein Grund bekannt (das Tagebuch von luxlogd, events.jsonl, hat nichts für diese Zeit)"
    ),
    # --- data-quality notes
    "{group}: {n} values (a whole answer has hundreds)": (
        "{group}: {n} Werte (eine ganze Antwort hat Hunderte)"
    ),
    "{label}: not in this poll": "{label}: fehlt in dieser Abfrage",
    "{label}: reads {value}, the value of a sensor that is not connected": (
        "{label}: zeigt {value}, den Wert eines nicht angeschlossenen Fühlers"
    ),
    "{label}: {value}{unit}, outside {low} to {high}{unit}": (
        "{label}: {value}{unit}, außerhalb von {low} bis {high}{unit}"
    ),
    "this poll is not later than the one before (the clock went back)": (
        "diese Abfrage ist nicht später als die vorige (die Uhr ging zurück)"
    ),
    "{label}: went backwards from {before} to {after}": (
        "{label}: zurückgegangen von {before} auf {after}"
    ),
    "{label}: jumped from {before} to {after}": "{label}: gesprungen von {before} auf {after}",
    "{label}: {value} for {days} days without a change": (
        "{label}: {value} seit {days} Tagen unverändert"
    ),
    # --- doctor: the report
    "connection": "Verbindung",
    "capabilities": "Ausstattung",
    "recorded data": "aufgezeichnete Daten",
    "integrity": "Unversehrtheit",
    "plausibility": "Plausibilität",
    "ok": "ok",
    "info": "Hinweis",
    "warning": "Warnung",
    "problem": "Problem",
    "what to do: {advice}": "was tun: {advice}",
    "the heat pump cannot be read (exit 69)": "die Wärmepumpe ist nicht lesbar (Exit 69)",
    "{problems}, {warnings} (exit 1)": "{problems}, {warnings} (Exit 1)",
    "no problems, {warnings}": "keine Probleme, {warnings}",
    "all ok": "alles in Ordnung",
    "Verdict: {summary}; checked in {took} s": "Ergebnis: {summary}; geprüft in {took} s",
    # --- doctor: connection
    "no heat pump address": "keine Adresse der Wärmepumpe",
    "set heatpump.host in the configuration (or give --host)": (
        "heatpump.host in der Konfiguration setzen (oder --host angeben)"
    ),
    "a passing network problem; if it recurs, check the link to the heat pump": (
        "ein vorübergehendes Netzwerkproblem; tritt es wieder auf, die Verbindung zur "
        "Wärmepumpe prüfen"
    ),
    "the first attempt failed ({why}); the second worked": (
        "der erste Versuch scheiterte ({why}); der zweite gelang"
    ),
    "Luxtronik controllers serve one client at a time: another one (an app, a home automation "
    "system, a second logger) may have held the connection. Run doctor again; if it stays so, "
    "find and stop the other client": (
        "Luxtronik-Regler bedienen jeweils nur einen Client: ein anderer (eine App, eine "
        "Hausautomation, ein zweiter Logger) hatte womöglich die Verbindung. doctor noch einmal "
        "aufrufen; bleibt es so, den anderen Client finden und beenden"
    ),
    "{host} is an IP address (no name to resolve)": (
        "{host} ist eine IP-Adresse (kein Name aufzulösen)"
    ),
    "cannot resolve {host}: {why}": "{host} ist nicht auflösbar: {why}",
    "check the name, or use the controller's IP address (its network settings show it; a DHCP "
    "reservation keeps it fixed)": (
        "den Namen prüfen oder die IP-Adresse des Reglers nehmen (seine Netzwerkeinstellungen "
        "zeigen sie; eine DHCP-Reservierung hält sie fest)"
    ),
    "{host} resolves to {addresses} in {ms} ms": "{host} ergibt {addresses} in {ms} ms",
    "slow name resolution delays every poll: use the IP address": (
        "langsame Namensauflösung verzögert jede Abfrage: die IP-Adresse nehmen"
    ),
    "Luxtronik 2.x controllers listen on 8889, very old firmware on 8888; check heatpump.port, "
    "and that the address is the heat pump's": (
        "Luxtronik-2.x-Regler hören auf 8889, sehr alte Firmware auf 8888; heatpump.port prüfen, "
        "und ob die Adresse die der Wärmepumpe ist"
    ),
    "port {port} accepts connections: set heatpump.port = {port}": (
        "Port {port} nimmt Verbindungen an: heatpump.port = {port} setzen"
    ),
    "{where} refused the connection: nothing listens on that port": (
        "{where} lehnte die Verbindung ab: auf diesem Port hört nichts"
    ),
    "no answer from {where} within {timeout} s (connecting timed out)": (
        "keine Antwort von {where} binnen {timeout} s (Verbindungsaufbau abgelaufen)"
    ),
    "the controller is off or restarting, the address is wrong, or a firewall drops the "
    "packets: check the address in the controller's network settings and that this computer "
    "reaches it (ping {host})": (
        "der Regler ist aus oder startet neu, die Adresse ist falsch, oder eine Firewall "
        "verwirft die Pakete: die Adresse in den Netzwerkeinstellungen des Reglers prüfen, und "
        "ob dieser Rechner ihn erreicht (ping {host})"
    ),
    "the controller reset the connection before answering ({phase}: {why})": (
        "der Regler setzte die Verbindung vor der Antwort zurück ({phase}: {why})"
    ),
    "cannot connect to {where}: {why}": "keine Verbindung zu {where}: {why}",
    "check the network between this computer and the heat pump (cable, Wi-Fi, routes, VLANs)": (
        "das Netzwerk zwischen diesem Rechner und der Wärmepumpe prüfen (Kabel, WLAN, Routen, "
        "VLANs)"
    ),
    "{where} answers, but not as a Luxtronik 2.x controller ({phase}: {why})": (
        "{where} antwortet, aber nicht wie ein Luxtronik-2.x-Regler ({phase}: {why})"
    ),
    "is this the heat pump's address and port? Another device may have the address; "
    "Luxtronik 2.x answers on 8889 (its web page is not what luxlogd reads)": (
        "sind das Adresse und Port der Wärmepumpe? Ein anderes Gerät hat vielleicht die "
        "Adresse; Luxtronik 2.x antwortet auf 8889 (seine Webseite liest luxlogd nicht)"
    ),
    "{where} accepted the connection but sent nothing within {timeout} s ({phase})": (
        "{where} nahm die Verbindung an, schickte aber binnen {timeout} s nichts ({phase})"
    ),
    "the controller is busy with another client or hanging; if it stays so, restart it (power "
    "off for a minute)": (
        "der Regler ist mit einem anderen Client beschäftigt oder hängt; bleibt es so, ihn neu "
        "starten (eine Minute stromlos)"
    ),
    "the answer broke off ({phase}: {why})": "die Antwort brach ab ({phase}: {why})",
    "a flaky link (Wi-Fi, powerline adapters) or a controller restarting: run doctor again, "
    "and check the link if it recurs": (
        "eine wacklige Verbindung (WLAN, Powerline-Adapter) oder ein Regler beim Neustart: "
        "doctor noch einmal aufrufen, und die Verbindung prüfen, wenn es wieder auftritt"
    ),
    "connected in {connect} ms; read {parts} ({total} s in all)": (
        "verbunden in {connect} ms; gelesen: {parts} ({total} s insgesamt)"
    ),
    "a real controller answers in about 0.1 s: a weak link (Wi-Fi, powerline) or a busy "
    "controller; luxlogd copes, but each poll takes longer": (
        "ein echter Regler antwortet in etwa 0,1 s: eine schwache Verbindung (WLAN, Powerline) "
        "oder ein beschäftigter Regler; luxlogd kommt damit zurecht, aber jede Abfrage dauert "
        "länger"
    ),
    "the controller says it is busy (status word {status})": (
        "der Regler meldet sich beschäftigt (Statuswort {status})"
    ),
    "nothing to do: it still sent every value, and luxlogd keeps them with the status": (
        "nichts zu tun: er schickte trotzdem jeden Wert, und luxlogd speichert sie mit dem Status"
    ),
    "firmware {firmware}: {parameters} parameters, {calculations} calculations, "
    "{visibilities} visibilities": (
        "Firmware {firmware}: {parameters} Parameter, {calculations} Berechnungen, "
        "{visibilities} Sichtbarkeiten"
    ),
    " (this firmware usually sends {lengths})": " (diese Firmware schickt sonst {lengths})",
    "the controller does not report its clock": "der Regler meldet seine Uhrzeit nicht",
    "UTC or local time: this computer runs on UTC": (
        "UTC oder Ortszeit: dieser Rechner läuft auf UTC"
    ),
    "the controller's clock is within {s} s of this computer's (it keeps {zone})": (
        "die Uhr des Reglers weicht höchstens {s} s von der dieses Rechners ab (sie zeigt {zone})"
    ),
    "the controller's clock is {by} ahead of this computer's (it keeps {zone})": (
        "die Uhr des Reglers geht {by} vor gegenüber diesem Rechner (sie zeigt {zone})"
    ),
    "the controller's clock is {by} behind this computer's (it keeps {zone})": (
        "die Uhr des Reglers geht {by} nach gegenüber diesem Rechner (sie zeigt {zone})"
    ),
    "set the controller's date and time; luxlogd stamps polls with this computer's clock, but "
    "the controller's error and switch-off logs use its own": (
        "Datum und Uhrzeit am Regler einstellen; luxlogd stempelt Abfragen mit der Uhr dieses "
        "Rechners, aber Fehler- und Abschaltspeicher des Reglers nutzen seine eigene"
    ),
    "the luxlogd daemon is running (pid {pid}, last poll {when}); doctor read the heat pump "
    "beside it": (
        "der luxlogd-Dienst läuft (PID {pid}, letzte Abfrage {when}); doctor las die "
        "Wärmepumpe daneben"
    ),
    # --- doctor: capabilities
    "heat pump type {kind}": "Wärmepumpentyp {kind}",
    "{n} temperature sensors connected: {names}": "{n} Temperaturfühler angeschlossen: {names}",
    "not connected (they read a fixed value): {names}": (
        "nicht angeschlossen (sie zeigen einen festen Wert): {names}"
    ),
    "reading exactly 0.0 (not present on this installation, or really 0 °C now): {names}": (
        "genau 0,0 (in dieser Anlage nicht vorhanden, oder jetzt wirklich 0 °C): {names}"
    ),
    "the {label} sensor is not connected (it reads a fixed value)": (
        "der Fühler {label} ist nicht angeschlossen (er zeigt einen festen Wert)"
    ),
    "the heat pump cannot work right without it: check the sensor and its wiring (a service "
    "call)": (
        "ohne ihn arbeitet die Wärmepumpe nicht richtig: Fühler und Verdrahtung prüfen lassen "
        "(ein Fall für den Kundendienst)"
    ),
    "in use: {circuits}": "in Betrieb: {circuits}",
    "no circuit seen yet": "noch kein Kreis gesehen",
    "newer firmware than luxtronik 0.3.14 knows: {fields} without a name; stored like every "
    "other value, shown as Unknown_*": (
        "neuere Firmware, als luxtronik 0.3.14 kennt: {fields} ohne Namen; gespeichert wie jeder "
        "andere Wert, gezeigt als Unknown_*"
    ),
    "reports the heat it produced ({kwh} kWh so far)": (
        "meldet die erzeugte Wärme (bisher {kwh} kWh)"
    ),
    "reports no heat produced (no heat meter, or it is switched off): no heat figures and no COP": (
        "meldet keine erzeugte Wärme (kein Wärmemengenzähler, oder er ist abgeschaltet): keine "
        "Wärmezahlen und kein COP"
    ),
    "reports the electric energy it used ({kwh} kWh so far)": (
        "meldet den verbrauchten Strom (bisher {kwh} kWh)"
    ),
    "reports no electric energy (older firmware has no energy counters): a COP needs an "
    "external meter": (
        "meldet keinen Stromverbrauch (ältere Firmware hat keine Energiezähler): ein COP braucht "
        "einen externen Zähler"
    ),
    "reports the flow rate ({flow} l/h now)": "meldet den Durchfluss (jetzt {flow} l/h)",
    "reports no flow rate now (no flow meter, or the pump is off)": (
        "meldet jetzt keinen Durchfluss (kein Durchflussmesser, oder die Pumpe steht)"
    ),
    "sends {n} of the {total} fields newer firmware adds: {names}": (
        "schickt {n} der {total} Felder neuerer Firmware: {names}"
    ),
    "does not send: {names}": "schickt nicht: {names}",
    " (no live COP without the electric power input)": (
        " (kein aktueller COP ohne die elektrische Leistungsaufnahme)"
    ),
    # --- doctor: recorded data
    "no data yet: {why}": "noch keine Daten: {why}",
    "start the daemon: systemctl enable --now luxlogd (or luxlogd run)": (
        "den Dienst starten: systemctl enable --now luxlogd (oder luxlogd run)"
    ),
    "the stored data cannot be read: {why}": "die gespeicherten Daten sind nicht lesbar: {why}",
    "no polls stored yet in {path}": "noch keine Abfragen gespeichert in {path}",
    "start the daemon: systemctl enable --now luxlogd": (
        "den Dienst starten: systemctl enable --now luxlogd"
    ),
    "{polls} from {start} to {end} ({span})": "{polls} von {start} bis {end} ({span})",
    "the newest poll is {age} old": "die neueste Abfrage ist {age} alt",
    "the daemon runs but stores nothing: see luxlogd status and journalctl -u luxlogd": (
        "der Dienst läuft, speichert aber nichts: siehe luxlogd status und journalctl -u luxlogd"
    ),
    "the daemon is not running: systemctl status luxlogd; journalctl -u luxlogd": (
        "der Dienst läuft nicht: systemctl status luxlogd; journalctl -u luxlogd"
    ),
    "{n} polls are only in the write-ahead log: SQLite is falling behind": (
        "{n} Abfragen sind nur im Schreibprotokoll: SQLite kommt nicht nach"
    ),
    "see storage_problem in luxlogd status; nothing is lost, the log holds them": (
        "siehe storage_problem in luxlogd status; nichts ist verloren, das Protokoll hält sie"
    ),
    "{n} polls only in the write-ahead log (moved into SQLite in batches)": (
        "{n} Abfragen nur im Schreibprotokoll (sie wandern schubweise in SQLite)"
    ),
    "polls per day: ": "Abfragen je Tag: ",
    "{n} of the last {days} days has less than {share} % of its polls: {list}": (
        "{n} der letzten {days} Tage hat weniger als {share} % seiner Abfragen: {list}"
    ),
    "{n} of the last {days} days have less than {share} % of their polls: {list}": (
        "{n} der letzten {days} Tage haben weniger als {share} % ihrer Abfragen: {list}"
    ),
    "the gaps below say why": "die Lücken unten sagen, warum",
    "each of the last {days} days has its polls": (
        "jeder der letzten {days} Tage hat seine Abfragen"
    ),
    "no gaps: every poll slot has its poll": "keine Lücken: jeder Abfragetermin hat seine Abfrage",
    "{gaps}, {missing} without polls in all ({share} % of the time)": (
        "{gaps}, insgesamt {missing} ohne Abfragen ({share} % der Zeit)"
    ),
    "see why below; luxlogd status and journalctl -u luxlogd tell more": (
        "warum, steht unten; luxlogd status und journalctl -u luxlogd sagen mehr"
    ),
    "gap {start} to {end} ({span}): {why}": "Lücke {start} bis {end} ({span}): {why}",
    "{when}: the system clock jumped {direction} by {size}": (
        "{when}: die Systemuhr sprang um {size} {direction}"
    ),
    "{when}: the system clock stepped {direction} by {size}": (
        "{when}: die Systemuhr wurde um {size} {direction}gestellt"
    ),
    " (at a start: the time since the newest poll stored)": (
        " (bei einem Start: die Zeit seit der neuesten gespeicherten Abfrage)"
    ),
    "{jumps} of more than a day; the last: the system clock jumped {direction} by {size} at "
    "{when}": (
        "{jumps} um mehr als einen Tag; zuletzt sprang die Systemuhr am {when} um {size} "
        "{direction}"
    ),
    "keep this computer's clock synchronised (timedatectl; a Raspberry Pi without a real-time "
    "clock starts with an old time until NTP has synced)": (
        "die Uhr dieses Rechners synchron halten (timedatectl; ein Raspberry Pi ohne Echtzeituhr "
        "startet mit einer alten Zeit, bis NTP synchronisiert hat)"
    ),
    "{jumps} against the controller's clock (first: {listed}); every poll is read by its time "
    "stamp": (
        "{jumps} gegenüber der Uhr des Reglers (zuerst: {listed}); jede Abfrage wird nach ihrem "
        "Zeitstempel gelesen"
    ),
    "{steps} of the system clock (the diary); every poll is read by its time stamp": (
        "{steps} der Systemuhr (laut Tagebuch); jede Abfrage wird nach ihrem Zeitstempel gelesen"
    ),
    "no clock jumps (this computer's and the controller's clocks agree from poll to poll)": (
        "keine Uhrensprünge (die Uhren dieses Rechners und des Reglers stimmen von Abfrage zu "
        "Abfrage überein)"
    ),
    "{polls} stamped by a wrong system clock (more than a day from the heat pump's clock and "
    "the store's history) is kept apart: stored as read, left out of charts, reports and "
    "exports": (
        "{polls} mit falscher Systemzeit (mehr als einen Tag neben der Uhr der Wärmepumpe und "
        "der bisherigen Daten) wird getrennt gehalten: gespeichert wie gelesen, aber nicht in "
        "Diagrammen, Berichten und Exporten"
    ),
    "{polls} stamped by a wrong system clock (more than a day from the heat pump's clock and "
    "the store's history) are kept apart: stored as read, left out of charts, reports and "
    "exports": (
        "{polls} mit falscher Systemzeit (mehr als einen Tag neben der Uhr der Wärmepumpe und "
        "der bisherigen Daten) werden getrennt gehalten: gespeichert wie gelesen, aber nicht in "
        "Diagrammen, Berichten und Exporten"
    ),
    "set the clock right; luxlogd export --clock-suspect gives those polls": (
        "die Uhr richtig stellen; luxlogd export --clock-suspect gibt diese Abfragen aus"
    ),
    "database {database} and write-ahead log {wal}": (
        "Datenbank {database} und Schreibprotokoll {wal}"
    ),
    "{stored}; {free} free; growth: too early to tell (less than a day)": (
        "{stored}; {free} frei; Wachstum: zu früh für eine Schätzung (weniger als ein Tag)"
    ),
    "{stored}: about {day} a day, {year} a year; {free} free": (
        "{stored}: etwa {day} am Tag, {year} im Jahr; {free} frei"
    ),
    "less than a year of room: free space, or lower storage.retention_days": (
        "weniger als ein Jahr Platz: Platz schaffen, oder storage.retention_days senken"
    ),
    "the roll-up of {name} failed: {why}": "der Abschluss von {name} scheiterte: {why}",
    "run it by hand to see why: luxlogd rollup --date {name}": (
        "von Hand aufrufen, um den Grund zu sehen: luxlogd rollup --date {name}"
    ),
    "{n} of the last {days} daily reports are missing: {list}": (
        "{n} der letzten {days} Tagesberichte fehlen: {list}"
    ),
    "luxlogd rollup --date {day} writes one; is the roll-up timer on? systemctl list-timers "
    "luxlogd-rollup.timer": (
        "luxlogd rollup --date {day} schreibt einen; läuft der Zeitgeber für den Abschluss? "
        "systemctl list-timers luxlogd-rollup.timer"
    ),
    "the last {days} daily reports are there": "die letzten {days} Tagesberichte sind da",
    # --- doctor: integrity
    "restart the daemon (systemctl restart luxlogd): at start it moves a damaged database aside "
    "(luxlogd.sqlite.damaged-*) and rebuilds it from what is readable and the write-ahead log": (
        "den Dienst neu starten (systemctl restart luxlogd): beim Start legt er eine beschädigte "
        "Datenbank beiseite (luxlogd.sqlite.damaged-*) und baut sie aus dem Lesbaren und dem "
        "Schreibprotokoll neu auf"
    ),
    "the database cannot be read: {why}": "die Datenbank ist nicht lesbar: {why}",
    "SQLite {check}: ok": "SQLite {check}: ok",
    "SQLite {check} finds damage: {what}": "SQLite {check} findet Schäden: {what}",
    "cannot be read: {why}": "nicht lesbar: {why}",
    "the raw values of other days are intact; restart the daemon to rebuild, and report this "
    "as a bug": (
        "die Rohwerte anderer Tage sind unversehrt; den Dienst zum Neuaufbau neu starten, und "
        "dies als Fehler melden"
    ),
    "{checked} of {sealed}": "{checked} von {sealed}",
    "{which} sealed days agree with their hourly figures": (
        "{which} abgeschlossenen Tage stimmen mit ihren Stundenwerten überein"
    ),
    "{n} series-days could not be rescued when the database was rebuilt: their values are "
    "unknown (gaps in charts)": (
        "{n} Reihentage waren beim Neuaufbau der Datenbank nicht zu retten: ihre Werte sind "
        "unbekannt (Lücken in Diagrammen)"
    ),
    "nothing to do; the rest is intact": "nichts zu tun; der Rest ist unversehrt",
    "no stored poll was ever lost or damaged (ledger of losses empty)": (
        "nie ging eine gespeicherte Abfrage verloren oder wurde beschädigt (Verlustbuch leer)"
    ),
    "{events}, {polls} lost in all; the last: {last}": (
        "{events}, insgesamt {polls} verloren; zuletzt: {last}"
    ),
    "check the disk (an SD card that loses writes on power cuts? dmesg, smartctl); luxlogd "
    "kept everything it could": (
        "den Datenträger prüfen (eine SD-Karte, die bei Stromausfall Schreibvorgänge verliert? "
        "dmesg, smartctl); luxlogd hat behalten, was zu behalten war"
    ),
    "{file}: {records} missing": "{file}: {records} fehlen",
    "{file}: {n} bytes at {at} that are not whole frames": (
        "{file}: {n} Bytes ab {at}, die keine ganzen Rahmen sind"
    ),
    "write-ahead log: {damage}": "Schreibprotokoll: {damage}",
    "a torn write (a crash or power cut while writing): no acknowledged poll is in it. "
    "Restart the daemon; it moves the damaged bytes aside": (
        "ein abgerissener Schreibvorgang (Absturz oder Stromausfall beim Schreiben): keine "
        "bestätigte Abfrage steckt darin. Den Dienst neu starten; er legt die beschädigten "
        "Bytes beiseite"
    ),
    "write-ahead log: {n} of {total} records cannot be decoded": (
        "Schreibprotokoll: {n} von {total} Einträgen sind nicht lesbar"
    ),
    "report this as a bug, with the wal directory": (
        "dies als Fehler melden, mit dem Verzeichnis wal"
    ),
    "write-ahead log: {frames} in {segments} verified (checksums, numbering, every record "
    "readable)": (
        "Schreibprotokoll: {frames} in {segments} geprüft (Prüfsummen, Nummerierung, jeder "
        "Eintrag lesbar)"
    ),
    "earlier damage was moved aside: {files} (no acknowledged poll is in them; they may be "
    "deleted)": (
        "frühere Schäden wurden beiseitegelegt: {files} (keine bestätigte Abfrage steckt darin; "
        "sie dürfen gelöscht werden)"
    ),
    # --- doctor: plausibility
    "{label} on {days}": "{label} an {days}",
    "{label} on {days} (e.g. {value} on {day})": "{label} an {days} (z. B. {value} am {day})",
    "{label} from {start} to {end}": "{label} vom {start} bis {end}",
    "{label} {times} (first on {day}: {before} to {after})": (
        "{label} {times} (zuerst am {day}: {before} auf {after})"
    ),
    "values outside their plausible range: ": "Werte außerhalb ihres plausiblen Bereichs: ",
    "all readings within their plausible ranges": "alle Werte in ihren plausiblen Bereichen",
    "a sensor or its wiring may be failing; the values are stored as read, check them in the "
    "charts": (
        "ein Fühler oder seine Verdrahtung versagt vielleicht; die Werte sind wie gelesen "
        "gespeichert, in den Diagrammen prüfen"
    ),
    "connected sensors that read the not-connected value: ": (
        "angeschlossene Fühler, die den Wert eines nicht angeschlossenen zeigen: "
    ),
    "a loose contact or a broken sensor (a service call if it recurs)": (
        "ein Wackelkontakt oder ein defekter Fühler (ein Fall für den Kundendienst, wenn es "
        "wieder auftritt)"
    ),
    "sensors that did not change for days: ": "Fühler, die sich tagelang nicht änderten: ",
    "no sensor stuck": "kein Fühler hängt",
    "a stuck sensor or a hung controller: restart the controller; if it stays, have the sensor "
    "checked": (
        "ein hängender Fühler oder ein hängender Regler: den Regler neu starten; bleibt es so, "
        "den Fühler prüfen lassen"
    ),
    "counters that went backwards: ": "Zähler, die zurückgingen: ",
    "every counter only grew": "jeder Zähler ist nur gewachsen",
    "readings of a disturbed controller, or the controller was replaced or reset: statistics "
    "skip such steps (luxlogd stats notes them)": (
        "Werte eines gestörten Reglers, oder der Regler wurde getauscht oder zurückgesetzt: "
        "die Statistik überspringt solche Sprünge (luxlogd stats vermerkt sie)"
    ),
    # --- stats
    "luxlogd stats {start} to {end}, per {by}": "luxlogd-Statistik {start} bis {end}, je {by}",
    "stats: day {done} of {total}": "Statistik: Tag {done} von {total}",
    "day": "Tag",
    "month": "Monat",
    "total": "gesamt",
    "season": "Saison",
    "period": "Zeitraum",
    "out min": "außen min",
    "out mean": "außen Mittel",
    "out max": "außen max",
    "heat kWh": "Wärme kWh",
    "elec kWh": "Strom kWh",
    "COP": "COP",
    "starts": "Starts",
    "hours": "Stunden",
    "run min": "Lauf min",
    "defrosts": "Abtauungen",
    "hot water": "Warmwasser",
    "all modes": "alle Betriebsarten",
    "space heating": "Heizen",
    "cooling": "Kühlen",
    "* so far (the period has not ended). ": "* bisher (der Zeitraum ist nicht zu Ende). ",
    "COP: heat produced / electric energy used (a season's: the seasonal performance factor).": (
        "COP: erzeugte Wärme / verbrauchter Strom (für eine Saison: die Jahresarbeitszahl)."
    ),
    "data quality: {note}": "Datenqualität: {note}",
    "by mode (temperatures: means while the compressor ran in that mode)": (
        "nach Betriebsart (Temperaturen: Mittel, während der Verdichter in dieser Betriebsart lief)"
    ),
    "heat {heat} kWh, electricity {electric} kWh, COP {cop}, {hours} h, flow {flow} °C, outdoor "
    "{outdoor} °C, {carnot} % of Carnot": (
        "Wärme {heat} kWh, Strom {electric} kWh, COP {cop}, {hours} h, Vorlauf {flow} °C, außen "
        "{outdoor} °C, {carnot} % von Carnot"
    ),
    "cycling: {starts} starts, {per_hour} per running hour; {runs} runs ended, median {median} "
    "min, longest {longest} min, {short} under {limit} min": (
        "Takten: {starts} Starts, {per_hour} je Laufstunde; {runs} Läufe beendet, Median "
        "{median} min, längster {longest} min, {short} unter {limit} min"
    ),
    "defrost: {minutes} min ({share} % of running time); backup heater {hours} h; data quality "
    "{quality} %": (
        "Abtauen: {minutes} min ({share} % der Laufzeit); zweiter Wärmeerzeuger {hours} h; "
        "Datenqualität {quality} %"
    ),
    "observations:": "Beobachtungen:",
}
