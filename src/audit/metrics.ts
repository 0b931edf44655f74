/**
 * How far to trust the verifier, from the auditors' labels: its precision and recall per task with
 * confidence intervals, and how much the auditors agree with each other (Cohen's kappa). Pure functions
 * of counts; the app counts with SQL.
 *
 * The unit is a labelled candidate: the verifier passed or failed it, the auditors accepted or rejected
 * it (a flag is no verdict). Precision is the share of passed candidates the auditors accept; recall is the
 * share of acceptable candidates the verifier passed. Audit plans draw passed and failed samples at
 * different rates (stratified by task and verdict), so recall is not read off the labelled counts: it is
 * rebuilt from the two rates and the sizes of the two groups in the run,
 *   recall = N_pass * P(accept | pass) / (N_pass * P(accept | pass) + N_fail * P(accept | fail)).
 */

/** A proportion with its interval; `p` is null when nothing was observed. */
export interface Estimate {
  p: number | null;
  lo: number;
  hi: number;
  /** Observations behind it. */
  n: number;
}

/** z of a two-sided 95% interval. */
export const Z95 = 1.959963984540054;
/**
 * z of each of two intervals whose joint coverage must be at least 95% (Bonferroni: 97.5% each); recall
 * combines two independent rates, so its interval is built from these.
 */
export const Z975 = 2.241402727604947;

/** Wilson score interval for k successes in n trials (no observations: the whole [0, 1]). */
export function wilson(k: number, n: number, z = Z95): Estimate {
  if (!(n > 0)) return { p: null, lo: 0, hi: 1, n: 0 };
  if (k < 0 || k > n) throw new RangeError(`wilson: ${k} successes out of ${n}`);
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At k = 0 and k = n the interval ends at exactly 0 and 1; rounding would leave 1e-17 and 0.99999….
  return { p, lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half), n };
}

/** Labelled candidates of one group (a task, or all) and the group's size in the run. */
export interface VerifierCounts {
  /** Passed by the verifier and accepted by the auditors (true positive). */
  passAccepted: number;
  /** Passed and rejected (false positive). */
  passRejected: number;
  /** Failed and accepted (false negative: a good chain thrown away). */
  failAccepted: number;
  /** Failed and rejected (true negative). */
  failRejected: number;
  /** Candidates the verifier passed / failed in the run (labelled or not). */
  passTotal: number;
  failTotal: number;
}

export interface VerifierQuality {
  precision: Estimate;
  recall: Estimate;
  /** Share of failed candidates the auditors would have kept (how much the verifier throws away wrongly). */
  falseRejection: Estimate;
  labelled: number;
}

/** recall from the accept rates of passed and failed candidates and the group sizes. */
function recallOf(pPass: number, pFail: number, nPass: number, nFail: number): number {
  const kept = nPass * pPass;
  const lost = nFail * pFail;
  return kept + lost > 0 ? kept / (kept + lost) : 1;
}

/** Precision and recall of the verifier against the auditors, with 95% intervals (see the module comment). */
export function verifierQuality(c: VerifierCounts): VerifierQuality {
  const nPass = c.passAccepted + c.passRejected;
  const nFail = c.failAccepted + c.failRejected;
  const precision = wilson(c.passAccepted, nPass);
  const falseRejection = wilson(c.failAccepted, nFail);
  // Recall rises with the pass group's accept rate and falls with the fail group's, so the ends of its
  // interval come from opposite ends of theirs (each at 97.5%, jointly at least 95%).
  const a = wilson(c.passAccepted, nPass, Z975);
  const b = wilson(c.failAccepted, nFail, Z975);
  let recall: Estimate;
  if (c.failTotal === 0) recall = { p: c.passTotal > 0 ? 1 : null, lo: c.passTotal > 0 ? 1 : 0, hi: 1, n: nPass };
  // The verifier passed nothing: recall is 0 once anything acceptable is seen, undefined before.
  else if (c.passTotal === 0) recall = { p: c.failAccepted > 0 ? 0 : null, lo: 0, hi: 0, n: nFail };
  else {
    const p = precision.p === null || falseRejection.p === null ? null : recallOf(precision.p, falseRejection.p, c.passTotal, c.failTotal);
    recall = { p, lo: recallOf(a.lo, b.hi, c.passTotal, c.failTotal), hi: recallOf(a.hi, b.lo, c.passTotal, c.failTotal), n: nPass + nFail };
  }
  return { precision, recall, falseRejection, labelled: nPass + nFail };
}

/**
 * Precision over several groups sampled at different rates (tasks): each group's rate weighted by its
 * share of passed candidates, with a Wilson interval at Kish's effective sample size.
 */
export function stratifiedRate(groups: ReadonlyArray<{ k: number; n: number; weight: number }>): Estimate {
  const seen = groups.filter((g) => g.n > 0 && g.weight > 0);
  const total = seen.reduce((s, g) => s + g.weight, 0);
  if (total === 0) return { p: null, lo: 0, hi: 1, n: 0 };
  const w = seen.map((g) => g.weight / total);
  const p = seen.reduce((s, g, i) => s + w[i]! * (g.k / g.n), 0);
  // Kish: n_eff = 1 / sum(w_i^2 / n_i), the size of a simple random sample with the same variance.
  const nEff = 1 / seen.reduce((s, g, i) => s + (w[i]! * w[i]!) / g.n, 0);
  const e = wilson(p * nEff, nEff);
  return { p, lo: e.lo, hi: e.hi, n: seen.reduce((s, g) => s + g.n, 0) };
}

/** Cohen's kappa of two raters from their paired decisions. */
export interface Kappa {
  /** null when chance agreement is total (both always gave the same single category). */
  kappa: number | null;
  /** Share of items they agree on. */
  observed: number | null;
  /** Items both rated. */
  n: number;
}

/** Cohen's kappa from `pairs[i] = [decision of rater A, decision of rater B]` on the same item. */
export function cohensKappa(pairs: ReadonlyArray<readonly [string, string]>): Kappa {
  const n = pairs.length;
  if (n === 0) return { kappa: null, observed: null, n: 0 };
  const a = new Map<string, number>();
  const b = new Map<string, number>();
  let agree = 0;
  for (const [x, y] of pairs) {
    a.set(x, (a.get(x) ?? 0) + 1);
    b.set(y, (b.get(y) ?? 0) + 1);
    if (x === y) agree++;
  }
  const po = agree / n;
  let pe = 0;
  for (const [k, na] of a) pe += (na / n) * ((b.get(k) ?? 0) / n);
  return { kappa: pe >= 1 ? null : (po - pe) / (1 - pe), observed: po, n };
}
