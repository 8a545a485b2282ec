"""The percentile strategy: entries, their checks, and the life of each position.

At the close of every 1-second candle while the detector is ACTIVE or RECOVERY, a bullish candle is an
entry candidate. It is taken only when, in this order: no emergency stop is set, the circuit breaker is
not open, no cooldown runs, fewer than `max_positions` positions are live, the candle's volume passes
the volume check, the entry quality score is accepted, the candle's range reaches the configured
percentile of the ranges before it, the window (with the candle) gives two valid limit prices
(`percentile.plan`), the entry's size is at least one step (a backtest sizes it from its equity),
the distance to the target covers `min_edge_pct`, the size cut (to the quantity step) where needed so
that its notional at the target, where its take-profit sells, is within `max_order_notional` (the
engine refuses a larger order, the target as well as the entry) and at least one step is left, and
the account's free quote can pay for it (`funds`; unknown until the engine's first report). Every
decision is counted in `decisions` (`taken`, `rejected_<why>`) and logged. The window restarts when
the detector wakes (`percentile`).

A taken entry is a LIMIT GTC buy at the planned entry price; it is canceled when not filled within
`entry_max_wait_secs`, or as soon as its reason is gone (a new local low moves the window, the detector
leaves ACTIVE/RECOVERY, an emergency stop). A signal candle usually closes near the local high, above
both limits: the entry waits for a pullback, so price above the target does not cancel it, unless the
entry has bought some already: then the rest is canceled, and what it bought gets its target. Once the
entry has settled, a LIMIT sell rests at the target; the exits of `exits.py` cancel it and sell at
market. They watch what an entry bought from its first fill: one that fires while the rest of the entry
still rests cancels that rest, and sells once the entry has settled. An entry counts as canceled
(`entry_canceled_<why>`) once, when it ends canceled (or expired) with its cancel out. Positions
change only from `OrderExecution`s. Times are event times, except command times (wall clock); the time
limits (maximum hold, maximum wait) are checked whenever the event clock moves: trades, candles and
books (`on_clock`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from flashcrash.config import EventDetectionConfig, RiskConfig, StrategyConfig
from flashcrash.event_detector import Candle, State
from flashcrash.event_detector.readings import Readings
from flashcrash.trading_engine.breaker import BreakerState
from flashcrash.trading_engine.cooldown import Cooldown
from flashcrash.trading_engine.emergency import EmergencyStops
from flashcrash.trading_engine.exits import ExitReason, ExitRules
from flashcrash.trading_engine.funds import Funds
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.orders import (
    ESTIMATED_FEE,
    POSITION_RECHECK_NS,
    Order,
    OrderManager,
    OrderStatus,
    new_client_order_id,
)
from flashcrash.trading_engine.percentile import Plan, RangeWindow, plan, wake_lead_secs
from flashcrash.trading_engine.portfolio import Lot, Phase, Portfolio
from flashcrash.trading_engine.position import ClosedTrade, Position
from flashcrash.trading_engine.scoring import Bands, Weights, score
from flashcrash.trading_engine.venue_figures import fee_part
from flashcrash.trading_engine.volume import VolumeCheck, VolumeGate
from flashcrash.wire import ENGINE_FLATTEN_PREFIX, HealthMetrics, OrderExecution

log = logging.getLogger(__name__)
NS = 1_000_000_000
TRADING_STATES = frozenset({State.ACTIVE, State.RECOVERY})
WAKING_STATES = frozenset({State.ALERT, State.ACTIVE})  # the detector wakes from SLEEP to these
# The states in which the strategy, holding nothing, sends nothing at a candle: it keeps its windows
# alone (from the first wake on it asks for its funds: `_advance`).
SILENT_STATES = frozenset({State.SLEEP})
MAX_EXIT_ATTEMPTS = 3  # exit attempts in a row that sold nothing; then the exit goes on, EXIT_RETRY_NS apart
HALTED_RETRY_NS = 1_000_000_000  # an exit refused by a halted engine is asked again this much later
EXIT_RETRY_NS = 5_000_000_000
ZERO = Decimal(0)
MIN_NOTIONAL_SPARE = Decimal("1.01")  # an entry's room over the minimum notional at its stop-loss


def _under_minimum_notional(order: Order) -> bool:
    """Whether the engine refused `order` for a notional under the venue's minimum (its order rules
    say "... below the minimum ... (NOTIONAL)")."""
    return order.refusal == "VALIDATION" and "(NOTIONAL)" in order.refusal_message


class PercentileStrategy:
    def __init__(
        self,
        cfg: StrategyConfig,
        risk: RiskConfig,
        quantity: Decimal,
        orders: OrderManager,
        quantity_step: Decimal = ZERO,
        min_notional: Decimal = ZERO,
        lead_secs: int = wake_lead_secs(EventDetectionConfig()),
    ) -> None:
        """`lead_secs`: `percentile.wake_lead_secs` of the detector's configuration."""
        self.cfg = cfg
        self.risk = risk
        self.quantity = Quantity.of(quantity)
        # The venue's quantity step: sells are rounded down to it, and less than one step left after
        # a sell is dust (0: no grid).
        self.quantity_step = quantity_step
        # The venue's smallest order notional: no entry under it, and a position worth less than it
        # cannot be sold on its own (written off as dust is; 0: none).
        self.min_notional = min_notional
        self.orders = orders
        self.breaker = orders.breaker
        self.position = Portfolio()
        self.decisions: Counter[str] = Counter()
        self.entries: list[tuple[int, float]] = []
        self.exits: list[tuple[int, float]] = []
        self.window = RangeWindow(cfg.range_samples, lead_secs)
        self.volume = VolumeGate(cfg.volume_window_secs, cfg.volume_multiple, cfg.volume_min_quote)
        self.cooldown = Cooldown(cfg.entry_cooldown_secs, cfg.loss_cooldown_secs)
        self.stops = EmergencyStops(risk)
        self.funds = Funds()
        self.rules = ExitRules.from_config(cfg)
        self.weights = Weights.from_config(cfg)
        self.bands = Bands.from_config(cfg)
        self.readings: Readings | None = None
        self.state = State.SLEEP
        self.last_price = math.nan
        self.event_ns = 0
        # Set (with why) while entries must wait: the engine is silent or halted, or orders are being
        # reconciled.
        self.paused_reason = ""
        # A shortfall of the engine's net position against the lots, seen once and asked about again
        # (`_match_engine_position`).
        self._shortfall: Decimal | None = None
        # Set by `shutdown`: no entry any more, and a lot that comes to hold coins is closed at market.
        self.closing = False
        # The entries whose cancel is out, with why (the first reason): counted once they end canceled.
        self.canceling: dict[str, str] = {}
        # Called with (kind, summary, payload) for what the audit log keeps: "entry_decision",
        # "entry_rejected", "trade_opened", "trade_closed" (payload "trade": the ClosedTrade).
        self.journal: Callable[[str, str, dict[str, Any]], None] | None = None

    # ---------------------------------------------------------------- snapshots
    def snapshot(self) -> dict[str, Any]:
        """Positions (lots, totals), range window, volume window, cooldowns, emergency stops,
        decision counts; JSON-safe. The orders are the OrderManager's own snapshot. Closed trades and
        the entry and exit marks are history, kept in the database (see `Portfolio.snapshot`)."""
        return {
            "portfolio": self.position.snapshot(),
            "window": self.window.snapshot(),
            "volume": self.volume.snapshot(),
            "cooldown": self.cooldown.snapshot(),
            "stops": self.stops.snapshot(),
            "decisions": dict(self.decisions),
            "canceling": dict(self.canceling),
            "state": str(self.state),
            "last_price": self.last_price if math.isfinite(self.last_price) else None,
            "event_ns": self.event_ns,
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.position.restore(s["portfolio"])
        self.window.restore(s["window"])
        self.volume.restore(s["volume"])
        self.cooldown.restore(s["cooldown"])
        self.stops.restore(s["stops"])
        self.decisions = Counter({str(k): int(v) for k, v in s["decisions"].items()})
        self.canceling = {str(k): str(v) for k, v in s.get("canceling", {}).items()}
        self.state = State(s["state"])
        self.last_price = math.nan if s.get("last_price") is None else float(s["last_price"])
        self.event_ns = int(s["event_ns"])

    def _note(self, kind: str, summary: str, **payload: Any) -> None:
        if self.journal is not None:
            self.journal(kind, summary, payload)

    # ------------------------------------------------------------------ inputs
    def on_health(self, h: HealthMetrics, now_wall_ns: int) -> None:
        self.stops.on_health(h)
        self._cancel_entries_if_stopped(now_wall_ns)
        self._advance(now_wall_ns)  # once a second even without market data: exits waiting to retry

    def on_feed(self, state: str, now_wall_ns: int) -> None:
        """The feed's StateChange: the feed stop, at once."""
        self.stops.on_feed(state)
        self._cancel_entries_if_stopped(now_wall_ns)

    def on_feed_lost(self) -> None:
        """The feed stopped: nothing after the last candle was observed until the next one."""
        self.volume.on_feed_lost()

    def on_candle(self, c: Candle, state: State, readings: Readings | None, now_wall_ns: int) -> None:
        """At the close of each candle: windows, candle exits, resting entries, the entry decision."""
        close_ns = c.start_ns + NS
        self.event_ns = max(self.event_ns, close_ns)
        if self.state is State.SLEEP and state in WAKING_STATES:
            self.window.restart(c.start_ns)
        self.state = state
        if readings is not None:
            self.readings = readings
            self.stops.on_readings(readings)
        candidate = state in TRADING_STATES and c.bullish
        range_floor = self._range_floor() if candidate else math.nan  # of the ranges before `c`
        new_low = self.window.on_candle(c)
        # Against the candles before `c`, for an entry (`_decide` asks for it of a candidate alone).
        volume = self.volume.check(c) if candidate else None
        self.volume.observe(c)
        if self.position.lots:
            self._lots_on_candle(c, state, new_low, now_wall_ns)
        self._advance(now_wall_ns)  # an order given up after its timeouts settles without a response
        if state in TRADING_STATES:
            self._decide(c, close_ns, volume, range_floor, now_wall_ns)

    def _lots_on_candle(self, c: Candle, state: State, new_low: bool, now_wall_ns: int) -> None:
        """The candle's exits of the lots held, and the resting entries canceled or expired."""
        for lot in self._held():
            reason = self.rules.on_candle(c, lot.position.entry_ns)
            if reason is not None:
                self._start_exit(lot, reason, now_wall_ns)
        if state not in TRADING_STATES:
            self._cancel_entries(f"detector {state}", now_wall_ns)
        elif new_low:
            self._cancel_entries("new local low", now_wall_ns)
        else:
            self._cancel_entries_if_stopped(now_wall_ns)
        self._expire_entries(c.start_ns + NS, now_wall_ns)

    def on_price(self, ts_ns: int, price: float, now_wall_ns: int) -> None:
        """Exit checks on every trade price."""
        prev, self.last_price = self.last_price, price
        if ts_ns > self.event_ns:
            self.event_ns = ts_ns
        lots = self.position.lots
        if not lots:  # the common case: nothing to check
            return
        wait = self.cfg.entry_max_wait_secs * NS
        # One pass over a copy: an exit or a cancel may close a lot (and drop it from `lots`).
        for lot in tuple(lots.values()):
            if lot.phase is Phase.ENTERING:
                if ts_ns - lot.signal_ns >= wait:
                    self._cancel_entry(lot, f"max_wait {self.cfg.entry_max_wait_secs}s", now_wall_ns)
                elif lot.position.is_open and price >= float(lot.plan.target.value):
                    # Bought in part, and the price is through the target: what was bought gets its
                    # target once the rest of the entry is canceled.
                    self._cancel_entry(lot, "target reached", now_wall_ns)
            if self._is_held(lot):
                entry = float(lot.position.avg_entry)
                lot.peak = max(lot.peak, entry, price)
                reason = self.rules.on_price(entry, lot.position.entry_ns, lot.peak, prev, price, ts_ns)
                if reason is not None:
                    self._start_exit(lot, reason, now_wall_ns)

    def on_clock(self, ts_ns: int, now_wall_ns: int) -> None:
        """The event clock at `ts_ns` without a trade (a book): the lots' time limits, maximum hold
        and maximum wait, which a quiet market (no trade, no candle) would otherwise leave unchecked."""
        if ts_ns > self.event_ns:
            self.event_ns = ts_ns
        if not self.position.lots:
            return
        for lot in self._held():
            if self.rules.held_too_long(lot.position.entry_ns, ts_ns):
                self._start_exit(lot, ExitReason.MAX_HOLD, now_wall_ns)
        self._expire_entries(ts_ns, now_wall_ns)

    def next_time_limit_ns(self) -> int | None:
        """The earliest event time at which a lot's time limit runs out, not acted on yet: a held
        lot's maximum hold, a resting entry's maximum wait (None when there is none)."""
        if not self.position.lots:
            return None
        hold, wait = self.rules.max_hold_ns, self.cfg.entry_max_wait_secs * NS
        held = [lot.position.entry_ns + hold for lot in self._held()]
        entering = self.position.in_phase(Phase.ENTERING)
        resting = [lot.signal_ns + wait for lot in entering if self._cancelable(lot)]
        return min(held + resting, default=None)

    def on_response(self, msg: object, event_ns: int, now_wall_ns: int) -> None:
        fill = self.orders.on_response(msg)
        if fill is not None:
            self.on_fill(fill, event_ns)
        self.apply_reconciled_fills(event_ns)
        net = self.orders.take_engine_position()
        if net is not None:
            self._match_engine_position(net, event_ns)
        balances = self.orders.take_balances()
        if balances is not None:
            self.funds.on_balances(balances)
        self._advance(now_wall_ns)

    def apply_reconciled_fills(self, event_ns: int) -> None:
        """Fills the order manager made up from the engine's figures during a reconciliation."""
        while self.orders.reconciled_fills:
            fill = self.orders.reconciled_fills.pop(0)
            self._note(
                "reconciled_fill",
                f"{fill.side} {fill.last_quantity} @ {fill.last_price} filled while nobody listened",
                client_order_id=fill.client_order_id,
                fill=fill,
            )
            self.on_fill(fill, event_ns)

    def _match_engine_position(self, net: Decimal, event_ns: int) -> None:
        """The engine's net position at the end of a reconciliation, against what the lots hold.

        Less at the engine, by a quantity step or more, and by the same amount when asked again
        `POSITION_RECHECK_NS` later: the engine sold it while nobody here listened (its flatten, an
        `EmergencyHalt` while this process was down). The lots are closed as by a flatten heard,
        oldest first, at the last trade price (the sale's own price was never heard; its fee
        estimated): selling them again would sell coins the engine no longer holds.
        More at the engine: coins no lot manages (a fill lost, a database started afresh), logged
        and journaled, not traded (an `EmergencyHalt` with `flatten` sells them)."""
        held = self.position.quantity
        step = self.quantity_step if self.quantity_step > 0 else Decimal("1e-8")
        short = held - net
        if short < step:
            self._shortfall = None
            if -short >= step:
                self.decisions["error_engine_holds_more"] += 1
                log.error("the engine holds %s, the positions %s: %s no position manages", net, held, -short)
                self._note("error", f"the engine holds {net}, the positions {held}",
                           engine_position=str(net), positions=str(held))  # fmt: skip
            return
        if short != self._shortfall:
            self._shortfall = short
            log.warning("the engine holds %s, the positions %s: asked again before acting", net, held)
            self.orders.check_position(self.orders.clock(), POSITION_RECHECK_NS)
            return
        self._shortfall = None
        self.decisions["engine_sold_unheard"] += 1
        price = Decimal(repr(self.last_price)) if self.last_price > 0 else None  # NaN: no trade yet
        if price is None:
            price = next(
                lot.position.avg_entry for lot in self.position.lots.values() if lot.position.is_open
            )
        fill = OrderExecution(
            None, event_ns, f"{ENGINE_FLATTEN_PREFIX}unheard-{event_ns}", "", self.orders.symbol, "SELL",
            self.orders.reconciled_trade_id(), price, short, short, short,
            "FILLED", "taker", price * short * self.orders.taker_rate, ESTIMATED_FEE,
        )  # fmt: skip
        log.error("the engine sold %s while nobody listened: the positions follow it at %s", short, price)
        self._note("error", f"the engine holds {net}, the positions {held}: it sold {short} unheard",
                   engine_position=str(net), positions=str(held))  # fmt: skip
        self.orders.reconciled_fills.append(fill)
        self.apply_reconciled_fills(event_ns)

    def order_unsent(self, client_order_id: str, now: int) -> None:
        """An order `place` took that never left after all (the runner held it for its write-ahead
        commit, and the commit failed or the engine's queue refused it at its release; the order
        manager no longer knows it): its lot goes on as if `place` had returned None. An entry is
        dropped (nothing was bought), a target's lot exits (`TARGET_REFUSED`), an exit is sold again
        at the lot's next turn."""
        lot = self.position.lot_of(client_order_id)
        if lot is None:
            return
        if client_order_id == lot.entry_coid:
            if lot.phase is Phase.ENTERING and not lot.position.is_open:
                self.position.finish(lot)
                self.decisions["entry_not_sent"] += 1
                self._note(
                    "entry_rejected", "send_failed: its order never left", client_order_id=client_order_id
                )
        elif client_order_id == lot.target_coid:
            lot.target_coid = None
            if lot.phase is Phase.HOLDING:
                self._start_exit(lot, ExitReason.TARGET_REFUSED, now)
        elif client_order_id == lot.exit_coid:
            lot.exit_coid = None

    def shutdown(self, now_wall_ns: int) -> None:
        """Cancels resting entries and closes every position at market, including those an entry
        fills (in part) before its cancel settles: none is left with only a resting target."""
        self.closing = True
        self._cancel_entries("shutdown", now_wall_ns)
        for lot in self.position.in_phase(Phase.HOLDING):
            self._start_exit(lot, ExitReason.SHUTDOWN, now_wall_ns)
        self._advance(now_wall_ns)

    # ------------------------------------------------------------------ entries
    def _reject(self, reason: str, detail: str = "") -> None:
        self.decisions[f"rejected_{reason}"] += 1
        level = logging.DEBUG if reason == "not_bullish" else logging.INFO
        log.log(level, "entry rejected: %s%s", reason, f" ({detail})" if detail else "")
        if reason != "not_bullish":  # every candle that is not bullish: counted, not audited
            self._note("entry_rejected", f"{reason}{f': {detail}' if detail else ''}", reason=reason)

    def _range_floor(self) -> float:
        """The `signal_range_percentile` of the candle ranges in the distribution: what a signal
        candle's range must reach (nan: no floor, the percentile is 0 or the ranges are too few)."""
        pct = self.cfg.signal_range_percentile
        if pct <= 0 or len(self.window.ranges) < self.cfg.range_min_samples:
            return math.nan
        return self.window.percentile(pct)

    def _decide(
        self, c: Candle, ts_ns: int, volume: VolumeCheck | None, range_floor: float, now: int
    ) -> None:
        """`range_floor`: `_range_floor()` before `c` joined the distribution; `volume`: `c` against
        the candles before it (None for a candle that is not bullish)."""
        if not c.bullish or volume is None:
            return self._reject("not_bullish")
        if self.closing:
            return self._reject("paused", "shutting down")
        if self.paused_reason:
            return self._reject("paused", self.paused_reason)
        if self.stops.paused:
            return self._reject("emergency_stop", self.stops.describe())
        if self.breaker.state(now) is BreakerState.OPEN:
            return self._reject("breaker", "circuit breaker open")
        if self.cooldown.blocks(ts_ns):
            return self._reject("cooldown", f"after {self.cooldown.why}")
        if len(self.position.lots) >= self.risk.max_positions:
            return self._reject("risk_max_positions", f"{len(self.position.lots)} live")
        if not volume.ok:
            return self._reject("volume", volume.describe())
        if self.readings is None:
            return self._reject("no_readings")
        quality = score(self.readings, self.weights, self.bands)
        if not quality.accepted:
            return self._reject("score", quality.describe())
        if c.high - c.low < range_floor:  # never true for nan (no floor)
            pct = self.cfg.signal_range_percentile
            return self._reject("range", f"candle range {c.high - c.low:g} under p{pct:g} {range_floor:g}")
        p = plan(self.window, self.cfg.entry_fraction, self.cfg.exit_fraction, self.cfg.price_tick)
        if p is None:
            return self._reject("invalid_price", f"window {self.window.low}..{self.window.high}")
        if self.quantity is None:
            return self._reject("risk_size", "the entry's size rounds to zero (under one quantity step)")
        if p.edge_pct < Decimal(repr(self.risk.min_edge_pct)):
            return self._reject("risk_edge", f"entry {p.entry.value} target {p.target.value}")
        quantity = self._fitted(self.quantity, p)
        if quantity is None:
            return self._reject(
                "risk_notional",
                f"not one step of {self.quantity.value} x {p.target.value} (the target) within "
                f"{self.risk.max_order_notional}",
            )
        notional = quantity.value * p.entry.value
        # Sellable down to the stop-loss: worth the minimum notional there, with 1 % to spare for the
        # fee the venue takes from the coins bought and the step a sell is rounded down to.
        at_stop = notional * (1 - Decimal(repr(self.cfg.stop_loss_pct)) / 100)
        if at_stop < self.min_notional * MIN_NOTIONAL_SPARE:
            return self._reject(
                "risk_min_notional", f"{quantity.value} x {p.entry.value}, {at_stop:f} at the stop-loss"
            )
        available = self.funds.available(self.orders)
        if available is not None and notional > available:
            return self._reject(
                "risk_funds", f"{notional:f} needed, {available:f} {self.funds.asset} available"
            )
        if not self.breaker.allows_entry(now):
            return self._reject("breaker", "half-open trial already out")
        # The decision is journaled first: the order manager makes it durable with the order, before
        # the order leaves (a restart knows the lot of every order that may be at the engine).
        coid = new_client_order_id()
        position = Position(entry_reason=f"percentile {quality.band}", entry_score=quality.total)
        lot = Lot(coid, p, quantity.value, ts_ns, quality.total, position)
        self._note(
            "entry_decision",
            f"limit buy {quantity.value} @ {p.entry.value}, target {p.target.value}",
            client_order_id=coid,
            lot=lot.snapshot(),
        )
        if self.orders.place("BUY", quantity, p.entry, now, "entry", coid) is None:
            return self._reject("send_failed")
        self.funds.reserve(coid, notional)
        self.position.add(lot)
        self.cooldown.on_entry(ts_ns)
        self.decisions["taken"] += 1
        self.decisions[f"taken_{quality.band}"] += 1
        log.info(
            "entry taken: limit buy %s @ %s, target %s (window %g..%g); %s; %s",
            quantity.value,
            p.entry.value,
            p.target.value,
            p.low,
            p.high,
            quality.describe(),
            volume.describe(),
        )
        return None

    def _fitted(self, quantity: Quantity, p: Plan) -> Quantity | None:
        """The entry's size: `quantity`, cut down (to the quantity step) where its notional at the
        plan's highest price, the target its take-profit sells at, would be over `[risk]
        max_order_notional`, which the engine refuses, the target as well as the entry. None: not
        one step fits."""
        top = max(p.entry.value, p.target.value)
        cap = self.risk.max_order_notional
        if quantity.value * top <= cap:
            return quantity
        step = self.quantity_step if self.quantity_step > 0 else Decimal("1e-8")
        fitted = Quantity.of((cap / top / step).to_integral_value(ROUND_DOWN) * step)
        if fitted is not None:
            log.info("entry of %s cut to %s: %s at the target %s is within %s",
                     quantity.value, fitted.value, fitted.value * top, p.target.value, cap)  # fmt: skip
        return fitted

    def _cancel_entry(self, lot: Lot, why: str, now: int) -> None:
        """Asks the entry's cancel (when not settled, and none is out); `_entry_settled` counts it."""
        if self.orders.cancel(lot.entry_coid, now):
            self.canceling.setdefault(lot.entry_coid, why)
            log.info("entry %s: cancel sent: %s", lot.entry_coid, why)

    def _entry_settled(self, lot: Lot, entry: Order) -> None:
        """The lot's entry settled: when it ended canceled (or expired) with its cancel out, it is
        counted canceled, once, under the first reason its cancel was asked for (not when it filled
        whole, the cancel too late)."""
        why = self.canceling.pop(lot.entry_coid, None)
        if why is not None and entry.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            self.decisions[f"entry_canceled_{why.split()[0]}"] += 1
            self._note("entry_rejected", f"entry canceled: {why}", client_order_id=lot.entry_coid)
            log.info("entry %s canceled: %s", lot.entry_coid, why)

    def _cancel_entries(self, why: str, now: int) -> None:
        for lot in self.position.in_phase(Phase.ENTERING):
            self._cancel_entry(lot, why, now)

    def _cancel_entries_if_stopped(self, now: int) -> None:
        if self.stops.paused:
            self._cancel_entries("emergency_stop", now)

    def _cancelable(self, lot: Lot) -> bool:
        """Whether the lot's entry order may still be canceled (not settled, no cancel out)."""
        entry = self.orders.get(lot.entry_coid)
        return entry is not None and not entry.terminal and not entry.cancel_sent

    @staticmethod
    def _is_held(lot: Lot) -> bool:
        """Whether the exit rules watch the lot: bought (HOLDING), or holding coins while the rest of
        its entry still rests (ENTERING, filled in part)."""
        return lot.phase is Phase.HOLDING or (lot.phase is Phase.ENTERING and lot.position.is_open)

    def _spent(self, lot: Lot) -> bool:
        """Whether the lot holds nothing and every order of it is settled: all that is left is to
        finish it (an entry that ended unfilled counted so), which `_advance_lot` does sending none."""
        if lot.position.is_open:
            return False
        orders = [self.orders.get(c) for c in lot.order_ids()]
        return all(o is not None and o.settled for o in orders)

    def _held(self) -> list[Lot]:
        return [lot for lot in self.position.lots.values() if self._is_held(lot)]

    def _expire_entries(self, ts_ns: int, now: int) -> None:
        wait = self.cfg.entry_max_wait_secs * NS
        for lot in self.position.in_phase(Phase.ENTERING):
            if ts_ns - lot.signal_ns >= wait:
                self._cancel_entry(lot, f"max_wait {self.cfg.entry_max_wait_secs}s", now)

    # -------------------------------------------------------------------- exits
    def _start_exit(self, lot: Lot, reason: ExitReason, now: int) -> None:
        if lot.phase is Phase.ENTERING:
            # Bought in part: the rest of the entry is canceled, and the exit starts once the entry
            # has settled (`_advance_lot`): never before its last fill, so nothing is sold twice.
            if lot.exit_reason is None:
                lot.exit_reason = reason
                log.info("exit %s of %s once its entry settles", reason, lot.entry_coid)
            self._cancel_entry(lot, str(reason), now)
            return
        if lot.phase is not Phase.HOLDING:
            return
        lot.phase = Phase.EXITING
        lot.exit_reason = reason
        log.info("exit %s of %s: %s", reason, lot.entry_coid, f"last price {self.last_price:g}")
        if lot.target_coid is not None:
            self.orders.cancel(lot.target_coid, now)
        self._advance_lot(lot, now)

    def _unsellable(self, lot: Lot, price: float) -> str:
        """Why the venue would refuse any sell of the lot at `price` (no trade seen yet: its entry
        price), the empty string when it would not: what it holds is under one step (a fee taken from
        a partial fill), or, down to the step, worth less than the minimum notional (an entry or a
        target filled only in part)."""
        held, step = lot.position.quantity, self.quantity_step
        if step > 0 and held < step:
            return f"{held} left, under one step {step}"
        at = Decimal(repr(price)) if math.isfinite(price) else lot.position.avg_entry
        worth = self._on_step(held) * at
        if worth < self.min_notional:
            return f"{held} left, worth {worth:f} at {at}, under the minimum notional {self.min_notional}"
        return ""

    def _on_step(self, quantity: Decimal) -> Decimal:
        """`quantity` rounded down to the venue's step (what a sell of it may be)."""
        step = self.quantity_step
        return quantity - quantity % step if step > 0 else quantity

    def _sell(self, lot: Lot, price: Price | None, tag: str, now: int) -> str | None:
        qty = Quantity.of(self._on_step(lot.position.quantity))
        if qty is None or self._unsellable(lot, float(price.value) if price else self.last_price):
            return None
        coid = new_client_order_id()  # journaled before it leaves, as an entry is
        self._note(
            "note", f"{tag} order of {lot.entry_coid}", client_order_id=coid, lot=lot.entry_coid, tag=tag
        )
        if self.orders.place("SELL", qty, price, now, tag, coid) is None:
            return None
        self.position.link(lot, coid)
        return coid

    def _advance(self, now: int) -> None:
        for lot in list(self.position.lots.values()):
            self._advance_lot(lot, now)
        if self.paused_reason or self.closing or self.orders.reconciling:
            return
        if self.state is not State.SLEEP or self.funds.free is not None:
            self.funds.ask(self.orders, now)  # from the first wake on (`Funds`)

    def _advance_lot(self, lot: Lot, now: int) -> None:
        """Moves a lot on as far as its orders allow; not while orders are reconciled with the engine:
        until its net position is known, a sell could sell what it already sold (its flatten, while
        nobody listened here). A spent lot is finished all the same: that sends nothing, and left
        live it would be counted, and told at a stop, as a position open."""
        orders = self.orders
        if orders.reconciling and not self._spent(lot):
            return
        if lot.phase is Phase.ENTERING:
            entry = orders.get(lot.entry_coid)
            if entry is None or not entry.settled:
                if lot.exit_reason is not None:  # its cancel asked again after a refusal
                    self._cancel_entry(lot, str(lot.exit_reason), now)
                return
            self._entry_settled(lot, entry)
            if not lot.position.is_open:
                self.decisions[f"entry_{entry.status.lower()}_unfilled"] += 1
                self.position.finish(lot)
                return
            lot.phase = Phase.HOLDING
            lot.peak = max(lot.peak, float(lot.position.avg_entry))
            reason = ExitReason.SHUTDOWN if self.closing else lot.exit_reason
            if reason is not None:  # shutting down, or an exit rule fired while the entry rested
                self._start_exit(lot, reason, now)
                return
            lot.target_coid = self._sell(lot, lot.plan.target, "target", now)
            if lot.target_coid is None:
                self._start_exit(lot, ExitReason.TARGET_REFUSED, now)
            return
        if lot.phase is Phase.HOLDING:
            target = orders.get(lot.target_coid) if lot.target_coid else None
            if target is not None and target.settled:
                if lot.position.is_open:
                    self._start_exit(lot, ExitReason.TARGET_REFUSED, now)
                else:
                    self.position.finish(lot)
            return
        if lot.phase is Phase.EXITING:
            target = orders.get(lot.target_coid) if lot.target_coid else None
            if target is not None and not target.settled:
                if not target.cancel_sent:
                    orders.cancel(target.client_order_id, now)
                return  # the target's cancel (or its last fills) first: never sell twice
            if not lot.position.is_open:
                self.position.finish(lot)
                return
            exit_order = orders.get(lot.exit_coid) if lot.exit_coid else None
            if exit_order is not None and not exit_order.settled:
                return
            if exit_order is not None and exit_order.refusal == "HALTED":
                # A halted engine refuses every order until it runs again: that is no attempt; the
                # exit is asked again a second later, for as long as the halt lasts.
                lot.exit_attempts -= 1
                lot.exit_coid = None
                lot.retry_ns = now + HALTED_RETRY_NS
            elif exit_order is not None and exit_order.filled > 0:
                # It sold some (a thin book): no refusal; the rest is sold at once. Only attempts
                # in a row that sold nothing back off.
                lot.exit_attempts, lot.retry_ns = 0, 0
            if now < lot.retry_ns:
                return
            why = self._unsellable(lot, self.last_price)
            if not why and exit_order is not None and _under_minimum_notional(exit_order):
                # Valued at the bid, the engine found it under the minimum (the last trade said over).
                why = f"{lot.position.quantity} left, its sell refused: {exit_order.refusal_message}"
            if why:
                # Nothing the venue would trade is left: written off at its cost, and the lot is done.
                lost = lot.position.cost
                trade = lot.position.write_off(self.event_ns, str(ExitReason.WRITTEN_OFF))
                log.warning("position %s: %s: written off (%s)", lot.entry_coid, why, lost)
                self._trade_closed(lot, trade, None)
                self.position.finish(lot)
                return
            lot.exit_attempts += 1
            if lot.exit_attempts > MAX_EXIT_ATTEMPTS:
                log.error("position %s: exit attempt %d", lot.entry_coid, lot.exit_attempts)
            lot.exit_coid = self._sell(lot, None, str(lot.exit_reason), now)
            if lot.exit_attempts >= MAX_EXIT_ATTEMPTS:
                # The attempts in a row were refused (the engine resyncing its book, say): a position
                # is never left open, the exit goes on, a few seconds apart.
                lot.retry_ns = now + EXIT_RETRY_NS

    # -------------------------------------------------------------------- fills
    def _fee(self, fill: OrderExecution) -> tuple[Decimal, Decimal]:
        """The fill's fee in the quote asset, and the part of it the venue took from the base asset:
        Binance takes a buy's commission from the coins it bought (unless paid in BNB). A fee in a
        third asset (BNB) has no price here: counted, logged, left out of the P&L. The assets are read
        off the pair's name without a contract suffix (`BCHUSD_PERP`: BCH and USD)."""
        part = fee_part(fill.fee_asset, self.orders.symbol)
        if part == "base":
            return ZERO, fill.fee
        if part == "quote" or not fill.fee:
            return fill.fee, ZERO
        asset, symbol = fill.fee_asset, self.orders.symbol
        self.decisions["fee_in_other_asset"] += 1
        log.warning(
            "fee of %s %s on %s not in %s: left out of the P&L", fill.fee, asset, fill.trade_id, symbol
        )
        return ZERO, ZERO

    def on_fill(self, fill: OrderExecution, event_ns: int) -> ClosedTrade | None:
        """Positions change only here, from `OrderExecution`."""
        lot = self.position.lot_of(fill.client_order_id)
        if lot is None and fill.client_order_id.startswith(ENGINE_FLATTEN_PREFIX):
            self._on_engine_flatten(fill, event_ns)
            return None
        if lot is None:
            self.decisions["error_fill_of_unknown_order"] += 1
            log.error("fill %s of unknown order %s: ignored", fill.trade_id, fill.client_order_id)
            return None
        if fill.side == "SELL" and not lot.position.is_open:
            self.decisions["error_sell_without_position"] += 1
            log.error(
                "sell fill %s of %s with no open position: ignored", fill.trade_id, fill.client_order_id
            )
            return None
        return self._apply_fill(lot, fill, event_ns)

    def _on_engine_flatten(self, fill: OrderExecution, event_ns: int) -> None:
        """The engine sold its whole net position itself (`EmergencyHalt` with `flatten`, or its own
        halt or stop with `flatten_on_halt`), after canceling every order: the sell closes the open
        lots, oldest first, each with its share of the fill and of its fee. What it sold beyond
        them is dust the lots had written off."""
        if fill.side != "SELL":
            self.decisions["error_engine_flatten_buy"] += 1
            log.error("engine flatten bought %s (a short closed): no lot is short", fill.last_quantity)
            return
        left = fill.last_quantity
        for lot in list(self.position.lots.values()):
            if left <= 0:
                break
            take = min(left, lot.position.quantity)
            if take <= 0:
                continue
            share = take / fill.last_quantity
            lot.exit_reason = ExitReason.ENGINE_FLATTEN
            lot.phase = Phase.EXITING
            self._apply_fill(lot, replace(fill, last_quantity=take, fee=fill.fee * share), event_ns)
            left -= take
        if left > 0:
            log.info("engine flatten sold %s beyond the open lots: dust written off before", left)

    def _apply_fill(self, lot: Lot, fill: OrderExecution, event_ns: int) -> ClosedTrade | None:
        (self.entries if fill.side == "BUY" else self.exits).append((event_ns, float(fill.last_price)))
        reason = ExitReason.TARGET if fill.client_order_id == lot.target_coid else lot.exit_reason
        was_open = lot.position.is_open
        fee, base_fee = self._fee(fill)
        trade = lot.position.on_fill(
            fill.side, fill.last_price, fill.last_quantity, fee, event_ns, str(reason or ""),
            base_fee, self.quantity_step,
        )  # fmt: skip
        if not was_open and lot.position.is_open:
            self._note("trade_opened", f"bought {fill.last_quantity} @ {fill.last_price}", lot=lot)
        if trade is not None:
            self._trade_closed(lot, trade, fill.client_order_id)
        return trade

    def _trade_closed(self, lot: Lot, trade: ClosedTrade, exit_coid: str | None) -> None:
        """A lot's trade closed (by a sell, or written off): journaled, kept, and a loss starts the
        loss cooldown."""
        self._note(
            "trade_closed",
            f"{trade.exit_reason}: pnl {trade.pnl}",
            lot=lot,
            trade=trade,
            exit_client_order_id=exit_coid,
        )
        self.position.closed.append(trade)
        self.cooldown.on_trade_closed(trade.exit_ns, trade.pnl)
        self.decisions[f"exit_{trade.exit_reason}"] += 1
        log.info(
            "trade closed: %s @ %s -> %s, pnl %s, fees %s (%s)",
            trade.quantity,
            trade.entry_price,
            trade.exit_price,
            trade.pnl,
            trade.fees,
            trade.exit_reason,
        )
