"""The prediction half of :class:`latmodel.predict.model.LatencyModel`: blocks, tables, chains and networks
priced from the fitted stages, the extrapolation checks, the new head's latency and the runtime.  A mixin, so
that the estimator's fitting (:mod:`latmodel.predict.model`) and its prediction are read apart; it uses only
the learned ``name_`` attributes and the stage helpers the estimator defines."""
from __future__ import annotations

import logging
import operator

from ..errors import NetcutError
from ..graph.features import FEATURE_COLUMNS
from .chains import FEATURE_INDEX, Chains, as_chains, to_chains
from .distinct_rows import distinct_rows
from .prefix_features import bucket_of, prefix_features
from .protocol import runtime_of
from .ranges import extrapolation_distance_many, extrapolation_reasons, extrapolation_reasons_many, widen_upper
from .reports import ChainPrices, NetworkPrediction
from .roofline import roofline_ms

__all__ = ["PredictionMixin", "SUBNORMAL_COLUMNS"]

#: The feature columns that count subnormal floats (latmodel.graph.subnormals): zero in a block whose
#: subnormals are flushed to zero at deployment, which then computes like one that never made any.
SUBNORMAL_COLUMNS: tuple[str, ...] = ("subnormal_values", "flops_subnormal")

logger = logging.getLogger(__name__)


def _block_names(rows) -> tuple[str, ...]:
    """The blocks' names (``block{i}`` for rows that carry none)."""
    try:
        return tuple(map(str, map(operator.itemgetter("block_name"), rows)))  # C calls only: thousands of rows
    except KeyError:
        return tuple(str(b.get("block_name", f"block{i}")) for i, b in enumerate(rows))


class PredictionMixin:
    """Prediction methods of a fitted :class:`~latmodel.predict.model.LatencyModel`."""

    def _margin(self, df, roofline, offset):
        import numpy as np

        if roofline is None:
            return np.full(len(df), float(offset))
        return np.log(roofline_ms(df, roofline)) + float(offset)

    def _predict_stage1(self, boosters, kinds, data, roofline, offset):
        """Geometric mean of the stage-1 boosters' predictions (ms); one call per booster."""
        import numpy as np

        ch = as_chains(data)
        X = ch.X
        margins = [self._margin(ch, roofline if kind == "roofline" else None, offset) for kind in kinds]
        # repeated blocks (a network's stages) go through the trees once; bitwise the same answers
        grouped = distinct_rows(X)
        if grouped is not None:
            X, margins = X[grouped[0]], [m[grouped[0]] for m in margins]
        X = X.astype(np.float32)
        logs = [b.inplace_predict(X, base_margin=m, validate_features=False) for b, m in zip(boosters, margins)]
        ms = np.exp(np.mean(logs, axis=0))
        return ms if grouped is None else ms[grouped[1]]

    def _predict_prefix(self, data, s1_ms, stage2):
        """Prefix latency (ms) per block: cumulative stage 1 plus the stage-2 correction, non-decreasing."""
        import numpy as np

        ch = as_chains(data)
        Z, cum = prefix_features(ch, s1_ms)
        if stage2 is None:
            return cum
        if self.stage2_last_block is None:
            delta = cum * (np.exp(stage2.inplace_predict(Z, validate_features=False)) - 1.0)
        else:
            # the correction is learned for prefixes ending at blocks 0..last only, and a longer prefix reuses
            # block `last`'s: so the booster is asked about those rows alone (a fifth of a search's rows)
            last = int(self.stage2_last_block)
            late = ch.block_index > last
            ratio = np.zeros(len(ch))
            if (~late).any():
                ratio[~late] = np.exp(stage2.inplace_predict(Z[~late], validate_features=False)) - 1.0
            delta = cum * ratio
            delta = np.where(late, delta[np.minimum(ch.starts + last, len(ch) - 1)], delta)
        return ch.cummax(np.maximum(cum + delta, 0.5 * cum))

    def predict_blocks(self, features):
        """In-context latency (ms) of each block; ``features``: DataFrame, list of dicts or 2-D array."""
        self.check_fitted()
        ch = to_chains(features)
        s1 = self._predict_stage1(self.stage1_, self.stage1_kinds_, ch, self.roofline_, self.stage1_offset_)
        if self.correction_ is not None:
            import numpy as np

            s1 = s1 * np.exp(self.correction_.log_factor(ch))
        return s1

    def predict_table(self, table):
        """(block ms, prefix ms, prefix upper ms) for every row of a sorted measurement table; one call per stage."""
        import numpy as np

        self.check_fitted()
        ch = to_chains(table)
        if self.correction_ is None:
            s1 = self.predict_blocks(ch)
            prefix = self._predict_prefix(ch, s1, self.stage2_)
        else:
            from .transfer import corrected_prefix_ms

            raw = self._predict_stage1(self.stage1_, self.stage1_kinds_, ch, self.roofline_, self.stage1_offset_)
            s1 = raw * np.exp(self.correction_.log_factor(ch))
            prefix = corrected_prefix_ms(ch, self._predict_prefix(ch, raw, self.stage2_), raw, s1)
        upper = ch.cummax(prefix * np.exp(np.asarray(self.residual_quantiles_)[bucket_of(ch.block_index)]))
        return s1, prefix, upper

    def predict_chain(self, block_feature_rows: list[dict], *, model_name: str = "network", resolution: int = 224,
                      width: float = 1.0, batch_size: int | None = None,
                      flush_subnormals: bool = False) -> NetworkPrediction:
        """Predict every block and prefix of one chain from its per-block feature rows (in order).

        A network outside what the predictor was fitted on (features no training row had, a resolution,
        width, batch size or feature beyond the training ranges: :mod:`latmodel.predict.ranges`) is predicted all
        the same, with one warning naming why, and its prediction says so (``extrapolation``).
        ``flush_subnormals``: price it as deployed with subnormal floats flushed to zero (see
        :meth:`predict_feature_rows`).
        """
        return self.predict_feature_rows([(model_name, resolution, width, batch_size, block_feature_rows)],
                                         flush_subnormals=flush_subnormals)[0]

    def predict_many(self, requests, *, flush_subnormals: bool = False) -> list[NetworkPrediction]:
        """Predict many named networks at once: ``requests`` are ``(name, resolution)`` or
        ``(name, resolution, width, batch_size)`` tuples; features come from
        :func:`latmodel.graph.netfeatures.network_features` (cached in memory and on disk), and every block of
        every network goes through each stage in one booster call (a call costs ~200 us whatever its size).
        Extrapolations warn once per network, as :meth:`predict_chain` does."""
        from ..graph.netfeatures import network_features

        self.check_fitted()
        configs = []
        for r in requests:
            name, resolution, width, batch = (tuple(r) + (1.0, 1)[len(r) - 2:])[:4]
            configs.append((str(name), int(resolution), float(width), int(batch)))
        return self.predict_feature_rows(
            [(n, res, w, b, network_features(n, res, width=w, batch_size=b)) for n, res, w, b in configs],
            flush_subnormals=flush_subnormals)

    def predict_feature_rows(self, items, *, flush_subnormals: bool = False) -> list[NetworkPrediction]:
        """Predict many chains given their per-block feature rows, in one booster call per stage:
        ``items`` are ``(name, resolution, width, batch_size, rows)`` tuples (``batch_size`` None: the
        rows' own).  Extrapolations warn once per network, as :meth:`predict_chain` does.

        ``flush_subnormals``: price the networks as deployed with subnormal floats flushed to zero
        (``torch.set_flush_denormal(True)`` in the thread that runs inference, also ONNX Runtime's at 1 thread),
        which the tables never measured: the blocks' :data:`SUBNORMAL_COLUMNS` are set to zero, so they are
        priced like blocks that make none (an estimate; its check on Swin-T: docs/CLI.md, ``latmodel predict``)."""
        import numpy as np

        self.check_fitted()
        items = [(str(n), int(res), float(w), b, list(r)) for n, res, w, b, r in items]
        if not items:
            return []
        for n, *_, r in items:
            if not r:
                raise NetcutError(f"network {n!r} has no blocks to predict")
        ch = Chains.from_row_lists([r for *_, r in items])
        configs = [{"resolution_px": res, "width": w, "batch_size": b} for _, res, w, b, _ in items]
        prices = self.price_chains(ch, configs, flush_subnormals=flush_subnormals)
        # the blocks that compute with subnormal floats, named only for the chains that have any
        makes = ch.col("subnormal_values") != 0
        has = np.logical_or.reduceat(makes, prices.chain_starts)
        block_ms, prefix_ms, upper_ms = (a.tolist() for a in (prices.block_latency_ms, prices.prefix_latency_ms,
                                                               prices.prefix_upper_ms))  # one C call per array
        out = []
        for i, ((name, resolution, width, batch, r), why) in enumerate(zip(items, prices.extrapolation)):
            k = prices.rows_of(i)
            names = _block_names(r)
            subnormal = tuple(names[j] for j in np.flatnonzero(makes[k])) if has[i] else ()
            if why:
                logger.warning("%s at %s px: extrapolated (%s); the latency may be far off (upper bound widened "
                               "%.2fx): profile such networks and refit", name, resolution, "; ".join(why),
                               prices.widened_by[i])
            out.append(NetworkPrediction(
                model=name, resolution_px=resolution, width=width, block_names=names,
                block_latency_ms=tuple(block_ms[k]), prefix_latency_ms=tuple(prefix_ms[k]),
                prefix_upper_ms=tuple(upper_ms[k]), total_latency_ms=prefix_ms[k.stop - 1],
                extrapolation=why, subnormal_blocks=subnormal,
                subnormals_flushed=bool(flush_subnormals and subnormal)))
        return out

    def price_chains(self, chains, configs, *, flush_subnormals: bool = False) -> ChainPrices:
        """Every block and prefix of many chains in one pass, as arrays (:class:`ChainPrices`): the bulk path
        under :meth:`predict_feature_rows`, for callers that price thousands of candidates and need no
        per-network records.  ``chains``: :class:`Chains` (e.g. :meth:`Chains.from_row_lists`, stacked once per
        set of networks); ``configs``: one ``{"resolution_px", "width", "batch_size"}`` dict per chain, the
        values checked against the training ranges (``batch_size`` None: the blocks' own).  One booster call
        per stage; extrapolation reasons, distances and the widened upper bounds vectorised over all chains.
        Warns nothing: the reasons are in the result (:meth:`predict_feature_rows` warns per network)."""
        import numpy as np

        self.check_fitted()
        ch = to_chains(chains)
        first = ch.chain_starts
        if len(configs) != len(first):
            raise NetcutError(f"price_chains got {len(first)} chain(s) but {len(configs)} configuration(s); "
                              "give one configuration per chain, in order")
        configs = [{**c, "batch_size": c.get("batch_size") if c.get("batch_size") is not None
                    else float(ch.X[s, FEATURE_INDEX["batch_size"]])} for c, s in zip(configs, first)]
        if flush_subnormals:
            X = ch.X.copy()
            X[:, [FEATURE_INDEX[c] for c in SUBNORMAL_COLUMNS]] = 0.0
            ch = Chains(X=X, starts=ch.starts, block_index=ch.block_index)
        s1, prefix, upper = self.predict_table(ch)
        lengths = np.diff(np.append(first, len(ch)))
        whys = [tuple(w) for w in self._extrapolations(ch.X, lengths, configs)]
        widened = np.ones(len(first))
        if any(whys):
            # Outside the ranges the trees price a block like the edge of what they saw: the upper bound
            # widens with the distance beyond it (rule and its measurement: latmodel.predict.ranges.widen_upper).
            outside = np.array([bool(w) for w in whys])
            rows = np.repeat(outside, lengths)  # the distance of those chains' blocks only
            sub_lengths = lengths[outside]
            sub_starts = np.repeat(np.concatenate([[0], np.cumsum(sub_lengths)[:-1]]), sub_lengths)
            distance = np.ones(len(ch))  # 1: inside, which widen_upper leaves as it is
            distance[rows] = extrapolation_distance_many(self.ranges_, ch.X[rows], FEATURE_COLUMNS, sub_starts,
                                                         [c for c, o in zip(configs, outside) if o])
            upper = widen_upper(upper, distance)
            widened = widen_upper(np.ones(len(first)), distance[first + lengths - 1])
        return ChainPrices(block_latency_ms=s1, prefix_latency_ms=prefix, prefix_upper_ms=upper, chain_starts=first,
                           extrapolation=tuple(whys), widened_by=tuple(float(v) for v in widened))

    def extrapolation_in(self, block_feature_rows, *, resolution=None, width=None, batch_size=None) -> list[str]:
        """Why a network with these block features, at this configuration, is outside the training data
        ([] when it is not)."""
        rows = list(block_feature_rows)
        if not rows:
            return extrapolation_reasons(self.ranges_, [], self._config_of(rows, resolution, width, batch_size))
        return self._extrapolations(Chains.from_rows(rows).X, [len(rows)],
                                    [self._config_of(rows, resolution, width, batch_size)])[0]

    def _extrapolations(self, X, lengths, configs) -> list[list[str]]:
        """:meth:`extrapolation_in` of many chains whose blocks are stacked in ``X`` (FEATURE_COLUMNS order),
        ``lengths[i]`` rows each, in one vectorised pass."""
        import numpy as np

        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
        unseen = self._unseen_per_chain(X, starts)
        reasons = extrapolation_reasons_many(self.ranges_, X, FEATURE_COLUMNS, starts, configs)
        return [([f"its blocks have {', '.join(cols)}, which no training row had"] if cols else []) + why
                for cols, why in zip(unseen, reasons)]

    def _unseen_per_chain(self, X, starts) -> list[list[str]]:
        """For each chain (blocks stacked in ``X`` from ``starts``), its non-zero columns that every training
        row had at zero."""
        import numpy as np

        cols = [c for c in (self.unseen_features_ or []) if c in FEATURE_INDEX]
        if not cols:
            return [[] for _ in starts]
        has = np.logical_or.reduceat(X[:, [FEATURE_INDEX[c] for c in cols]] != 0, np.asarray(starts), axis=0)
        return [[c for c, h in zip(cols, row) if h] for row in has]

    @staticmethod
    def _config_of(block_feature_rows, resolution, width, batch_size) -> dict:
        """The configuration values checked against the training ranges (batch size: the rows' own if None)."""
        if batch_size is None and block_feature_rows:
            batch_size = block_feature_rows[0].get("batch_size")
        return {"resolution_px": resolution, "width": width, "batch_size": batch_size}

    def unseen_in(self, block_feature_rows) -> list[str]:
        """Feature columns non-zero in ``block_feature_rows`` but zero in every training row (an extrapolation)."""
        self.check_fitted()
        rows = list(block_feature_rows)
        return self._unseen_per_chain(Chains.from_rows(rows).X, [0])[0] if rows else []

    def predict_network(self, model, resolution: int = 224, *, width: float = 1.0,
                        batch_size: int = 1, flush_subnormals: bool = False) -> NetworkPrediction:
        """Predict a network given by name (registry, ``pkg.mod:factory``, ``random:SEED``, ``random2:SEED``) or as an nn.Module.

        Features come from :func:`latmodel.graph.netfeatures.network_features` (cached per
        configuration); predictions for named networks are cached on this predictor.
        """
        self.check_fitted()
        if isinstance(model, str):
            key = (model, int(resolution), float(width), int(batch_size), bool(flush_subnormals))
            if key in self._cache:
                return self._cache[key]
            from ..graph.netfeatures import network_features

            rows = network_features(model, resolution, width=width, batch_size=batch_size)
            pred = self.predict_chain(rows, model_name=model, resolution=resolution, width=width,
                                      batch_size=batch_size, flush_subnormals=flush_subnormals)
            self._cache[key] = pred
            return pred
        from ..graph.blocks import split_model
        from ..graph.features import chain_features

        name = type(model).__name__
        chain = split_model(model, resolution, name=name, batch_size=batch_size)
        return self.predict_chain(chain_features(chain), model_name=name, resolution=resolution, width=width,
                                  batch_size=batch_size, flush_subnormals=flush_subnormals)

    def head_latency_ms(self, in_channels: int, in_height_px: int, in_width_px: int, n_classes: int,
                        batch_size: int = 1) -> float:
        """Latency (ms) of a new head: global average pool + flatten + Linear(in_channels, n_classes).

        Priced with the roofline fit of this device (:data:`ROOFLINE_TERMS`, fitted by
        non-negative least squares on the table's in-context block latencies): a
        constant, ms per GFLOP of memory-bound ops (the pool) and of GEMMs (the
        Linear), ms per GB of activations and of parameters, and ms per layer (the
        pool and the Linear).  The trees are not used: no table block looks like a
        Linear head, and trees cannot extrapolate to one.
        """
        import numpy as np

        self.check_fitted()
        c, h, w, n, b = (int(in_channels), int(in_height_px), int(in_width_px), int(n_classes), int(batch_size))
        if min(c, h, w, n, b) <= 0:
            raise NetcutError(f"head dimensions must be positive, got channels={c}, height={h}, width={w}, "
                              f"classes={n}, batch={b}")
        row = np.zeros((1, len(FEATURE_COLUMNS)))
        for col, value in {
            "flops_pool": float(b * c * h * w), "flops_linear": float(b * c * n),
            "in_bytes": 4.0 * b * c * h * w, "out_bytes": 4.0 * b * n, "intermediate_bytes": 4.0 * b * (c + n),
            "param_bytes": 4.0 * (c * n + n), "n_pool": 1.0, "n_linear": 1.0, "n_ops": 3.0,
        }.items():
            row[0, FEATURE_INDEX[col]] = value
        head = Chains(X=row, starts=np.zeros(1, dtype=int), block_index=np.zeros(1, dtype=int))
        ms = float(roofline_ms(head, self.head_roofline_)[0])
        if self.correction_ is not None:  # the base's roofline times the correction for the head's own row
            ms *= float(np.exp(self.correction_.log_factor(head)[0]))
        return ms

    # ------------------------------------------------------------------ runtime

    @property
    def runtime(self) -> str:
        """The runtime whose latencies this predictor learned (predictors from before runtimes: ``"torch"``)."""
        self.check_fitted()
        return runtime_of(self)

    def check_runtime(self, runtime: str, what: str = "the candidates") -> None:
        """:class:`NetcutError` unless ``runtime`` is the runtime this predictor was fitted for."""
        mine = self.runtime
        if str(runtime or "torch") != mine:
            version = self.device_.get("runtime_version") or self.device_.get("torch_version") or "?"
            raise NetcutError(f"this predictor prices latencies for runtime {mine!r} ({version}) but {what} are "
                              f"priced for {runtime!r}; use a predictor fitted on a {runtime} table "
                              f"('latmodel profile --runtime {runtime}', then 'latmodel fit') or re-price with this one")
