//! Implicit-feedback ALS (Hu, Koren, Volinsky 2008, "Collaborative Filtering for Implicit
//! Feedback Datasets"). Every (user, item) pair is a preference p = [r > 0] with confidence
//! c = 1 + alpha·r; the loss Σ c (p − xᵤ·yᵢ)² + λ(‖x‖² + ‖y‖²) is minimised by alternating
//! exact least-squares sweeps over users and items.
//!
//! Why conjugate gradient: the normal equations (YᵀY + Yᵀ(Cᵤ − I)Y + λI) xᵤ = YᵀCᵤp(ᵤ) need
//! only YᵀY (shared, computed once per sweep) plus the user's own nnz items, so a few CG steps
//! warm-started from the previous factors cost O(nnz·k + k²) per user instead of an O(k³)
//! solve, with the same fixed point (Takács et al. 2011). Rows are solved in parallel (rayon);
//! each writes only its own factor row.

use ndarray::{ArrayView1, ArrayView2};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sprs::CsMat;

use super::InvalidParam;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    pub factors: usize,
    pub iterations: usize,
    pub regularization: f32,
    pub alpha: f32,
    /// CG steps per row and sweep (3 is enough when warm-started).
    pub cg_steps: usize,
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            iterations: 15,
            regularization: 0.01,
            alpha: 1.0,
            cg_steps: 3,
            seed: 42,
        }
    }
}

impl AlsParams {
    pub fn validate(&self) -> Result<(), InvalidParam> {
        if !(1..=1024).contains(&self.factors) {
            return Err(InvalidParam::new("factors", "must be in 1..=1024"));
        }
        if !(1..=1000).contains(&self.iterations) {
            return Err(InvalidParam::new("iterations", "must be in 1..=1000"));
        }
        if !(self.regularization.is_finite() && self.regularization >= 0.0) {
            return Err(InvalidParam::new("regularization", "must be >= 0"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(InvalidParam::new("alpha", "must be > 0"));
        }
        if self.cg_steps == 0 {
            return Err(InvalidParam::new("cg_steps", "must be >= 1"));
        }
        Ok(())
    }
}

/// Learned factors, row-major: `users × factors` and `items × factors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsModel {
    pub factors: usize,
    pub regularization: f32,
    pub alpha: f32,
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
    /// `YᵀY + λI`, computed on the first fold-in and kept: it depends on the item factors
    /// only, and recomputing it (items × factors² operations) per request made every answer
    /// for a user with fresh events cost tens of milliseconds.
    #[serde(skip)]
    pub gram: GramCache,
}

/// The lazily computed Gram matrix of an [`AlsModel`]; not stored in artifacts, equal for
/// any two models (it follows from the factors).
#[derive(Debug, Clone, Default)]
pub struct GramCache(std::sync::OnceLock<Vec<f32>>);

impl PartialEq for GramCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl AlsModel {
    /// Trains on a user×item CSR matrix of interaction strengths. `on_iteration(i)` is called
    /// after each full sweep (for progress and cancellation: return false to stop early).
    pub fn fit(
        x: &CsMat<f64>,
        params: &AlsParams,
        mut on_iteration: impl FnMut(usize) -> bool,
    ) -> Result<AlsModel, InvalidParam> {
        params.validate()?;
        let k = params.factors;
        let by_user = Side::new(&x.to_csr(), params.alpha);
        let by_item = Side::new(&x.transpose_view().to_csr(), params.alpha);
        let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed);
        let mut init =
            |n: usize| -> Vec<f32> { (0..n * k).map(|_| rng.random::<f32>() * 0.01).collect() };
        let mut users = init(x.rows());
        let mut items = init(x.cols());
        for it in 0..params.iterations {
            solve_side(&by_user, &items, &mut users, k, params);
            solve_side(&by_item, &users, &mut items, k, params);
            if !on_iteration(it + 1) {
                break;
            }
        }
        Ok(AlsModel {
            factors: k,
            regularization: params.regularization,
            alpha: params.alpha,
            user_factors: users,
            item_factors: items,
            gram: GramCache::default(),
        })
    }

    pub fn users(&self) -> usize {
        self.user_factors.len() / self.factors.max(1)
    }

    pub fn items(&self) -> usize {
        self.item_factors.len() / self.factors.max(1)
    }

    pub fn item_matrix(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.items(), self.factors), &self.item_factors)
            .expect("item factors are items × factors")
    }

    pub fn user_vector(&self, user: u32) -> Option<&[f32]> {
        let k = self.factors;
        let a = user as usize * k;
        self.user_factors.get(a..a + k)
    }

    /// The factor vector a request is scored with: the user's own when known, else one folded
    /// in from `history`; None when there is neither.
    pub fn vector_for(
        &self,
        user: Option<u32>,
        history: &[(u32, f32)],
    ) -> Option<std::borrow::Cow<'_, [f32]>> {
        match user.and_then(|u| self.user_vector(u)) {
            Some(x) => Some(std::borrow::Cow::Borrowed(x)),
            None => (!history.is_empty()).then(|| std::borrow::Cow::Owned(self.fold_in(history))),
        }
    }

    /// Scores of every item for a factor vector.
    pub fn score_vector(&self, user: &[f32]) -> Vec<f32> {
        self.item_matrix().dot(&ArrayView1::from(user)).to_vec()
    }

    /// A factor vector for a user not seen in training, from a history of `(item, strength)`:
    /// the same least-squares problem with the item factors fixed, solved to convergence.
    pub fn fold_in(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let k = self.factors;
        let yty = self
            .gram
            .0
            .get_or_init(|| gram(&self.item_factors, k, self.regularization));
        let (cols, extra): (Vec<u32>, Vec<f32>) = history
            .iter()
            .filter(|(i, _)| (*i as usize) < self.items())
            .map(|&(i, r)| (i, self.alpha * r))
            .unzip();
        let mut x = vec![0f32; k];
        let mut scratch = Scratch::new(k);
        cg_row::<false>(
            yty,
            &self.item_factors,
            &cols,
            &extra,
            &mut x,
            k.max(3),
            &mut scratch,
        );
        x
    }

    /// Item-to-item cosine over item factors (top `k`, no self).
    pub fn similar(&self, item: u32, k: usize) -> Vec<(u32, f32)> {
        let y = self.item_matrix();
        if item as usize >= y.nrows() {
            return Vec::new();
        }
        let q = y.row(item as usize);
        let qn = q.dot(&q).sqrt();
        let mut out: Vec<(u32, f32)> = y
            .rows()
            .into_iter()
            .enumerate()
            .filter(|&(j, _)| j != item as usize)
            .map(|(j, r)| {
                let d = qn * r.dot(&r).sqrt();
                (j as u32, if d > 0.0 { q.dot(&r) / d } else { 0.0 })
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}

/// One side's interactions as the solver reads them: row offsets, column ids and the extra
/// confidence alpha·r (c − 1), converted once per fit instead of once per row and sweep.
struct Side {
    indptr: Vec<usize>,
    cols: Vec<u32>,
    extra: Vec<f32>,
}

impl Side {
    fn new(c: &CsMat<f64>, alpha: f32) -> Side {
        let mut indptr = Vec::with_capacity(c.rows() + 1);
        let mut cols = Vec::with_capacity(c.nnz());
        let mut extra = Vec::with_capacity(c.nnz());
        indptr.push(0);
        for row in c.outer_iterator() {
            for (i, &v) in row.iter() {
                cols.push(i as u32);
                extra.push(alpha * v as f32);
            }
            indptr.push(cols.len());
        }
        Side {
            indptr,
            cols,
            extra,
        }
    }

    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.cols[a..b], &self.extra[a..b])
    }
}

/// `YᵀY + λI`, row-major `k × k` (one GEMM per half-sweep, shared by every row).
fn gram(y: &[f32], k: usize, regularization: f32) -> Vec<f32> {
    let y = ArrayView2::from_shape((y.len() / k, k), y).expect("factors are n × k");
    let mut g = y.t().dot(&y);
    for d in 0..k {
        g[[d, d]] += regularization;
    }
    g.as_standard_layout().iter().copied().collect()
}

/// Buffers of the row solver, allocated once per task and reused across its rows: the CG
/// vectors (r, p, Ap) and the row's gathered `yᵢ`.
struct Scratch {
    cg: Vec<f32>,
    gathered: Vec<f32>,
}

impl Scratch {
    fn new(k: usize) -> Scratch {
        Scratch {
            cg: vec![0f32; 3 * k],
            gathered: Vec::new(),
        }
    }
}

/// Rows per rayon task: large enough that scheduling and the scratch allocation vanish next to
/// the arithmetic, small enough that both threads stay busy to the end.
const ROWS_PER_TASK: usize = 64;

/// One half-sweep: every row of `x` (`rows × k`) re-solved against the fixed `y` (`n × k`).
fn solve_side(side: &Side, y: &[f32], x: &mut [f32], k: usize, p: &AlsParams) {
    let yty = gram(y, k, p.regularization);
    x.par_chunks_mut(k * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, xs)| {
            let first = task * ROWS_PER_TASK;
            solve_rows(&yty, y, k, side, first, xs, p.cg_steps);
        });
}

/// Solves consecutive rows `first..` into `xs`, on the widest kernel the CPU runs.
fn solve_rows(
    yty: &[f32],
    y: &[f32],
    k: usize,
    side: &Side,
    first: usize,
    xs: &mut [f32],
    steps: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `solve_rows_fma` only requires AVX2 and FMA, both detected just above.
        unsafe { solve_rows_fma(yty, y, k, side, first, xs, steps) };
        return;
    }
    solve_rows_body::<false>(yty, y, k, side, first, xs, steps);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn solve_rows_fma(
    yty: &[f32],
    y: &[f32],
    k: usize,
    side: &Side,
    first: usize,
    xs: &mut [f32],
    steps: usize,
) {
    solve_rows_body::<true>(yty, y, k, side, first, xs, steps);
}

#[inline(always)]
fn solve_rows_body<const FMA: bool>(
    yty: &[f32],
    y: &[f32],
    k: usize,
    side: &Side,
    first: usize,
    xs: &mut [f32],
    steps: usize,
) {
    let mut scratch = Scratch::new(k);
    let mut block_scratch = BlockScratch::new(k);
    let mut blocks = xs.chunks_exact_mut(LOCKSTEP * k);
    let mut row = first;
    for block in &mut blocks {
        cg_block::<FMA>(yty, y, side, row, block, steps, &mut block_scratch);
        row += LOCKSTEP;
    }
    for xu in blocks.into_remainder().chunks_exact_mut(k) {
        let (cols, extra) = side.row(row);
        cg_row::<FMA>(yty, y, cols, extra, xu, steps, &mut scratch);
        row += 1;
    }
}

/// Rows whose conjugate-gradient solves run side by side, so each pass over `YᵀY + λI` (the
/// bulk of the arithmetic at 64+ factors, and more than L1 holds) serves four rows at once.
const LOCKSTEP: usize = 4;

/// Buffers of [`cg_block`]: per row its gathered `yᵢ`, and the CG vectors of all rows.
struct BlockScratch {
    gathered: [Vec<f32>; LOCKSTEP],
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl BlockScratch {
    fn new(k: usize) -> BlockScratch {
        BlockScratch {
            gathered: Default::default(),
            r: vec![0f32; LOCKSTEP * k],
            p: vec![0f32; LOCKSTEP * k],
            ap: vec![0f32; LOCKSTEP * k],
        }
    }
}

/// [`cg_row`] for `LOCKSTEP` consecutive rows `first..` at once: the same iteration per row
/// (a row that has converged stops changing), with the shared Gram product done for all rows
/// in one pass ([`gram_times_block`]).
#[inline(always)]
fn cg_block<const FMA: bool>(
    yty: &[f32],
    y: &[f32],
    side: &Side,
    first: usize,
    xs: &mut [f32],
    steps: usize,
    scratch: &mut BlockScratch,
) {
    let k = xs.len() / LOCKSTEP;
    let BlockScratch { gathered, r, p, ap } = scratch;
    for (b, g) in gathered.iter_mut().enumerate() {
        gather(y, side.row(first + b).0, k, g);
    }
    // r = b − A x per row.
    gram_times_block::<FMA>(yty, xs, r);
    r.iter_mut().for_each(|v| *v = -*v);
    let mut rs_old = [0f32; LOCKSTEP];
    let mut active = [true; LOCKSTEP];
    for b in 0..LOCKSTEP {
        let extra = side.row(first + b).1;
        let rb = &mut r[b * k..][..k];
        add_history_residual::<FMA>(&gathered[b], extra, &xs[b * k..][..k], rb);
        rs_old[b] = dot::<FMA>(rb, rb);
        active[b] = rs_old[b] >= 1e-20;
    }
    p.copy_from_slice(r);
    for _ in 0..steps {
        if !active.iter().any(|&a| a) {
            break;
        }
        gram_times_block::<FMA>(yty, p, ap);
        for b in 0..LOCKSTEP {
            if !active[b] {
                continue;
            }
            let extra = side.row(first + b).1;
            let (pb, apb) = (&mut p[b * k..][..k], &mut ap[b * k..][..k]);
            add_history_operator::<FMA>(&gathered[b], extra, pb, apb);
            let (xb, rb) = (&mut xs[b * k..][..k], &mut r[b * k..][..k]);
            match cg_step::<FMA>(rs_old[b], pb, apb, xb, rb) {
                Some(rs_new) => {
                    rs_old[b] = rs_new;
                    active[b] = rs_new >= 1e-20;
                }
                None => active[b] = false,
            }
        }
    }
}

/// `out_b = G·v_b` for the `LOCKSTEP` vectors of `vs` (each `k` long, one after another),
/// reading `G` once. Uses the symmetry of `G = YᵀY + λI`: `G·v = Σ_j v_j·G[j, :]`, so an
/// output tile of every vector stays in registers while the rows of `G` stream past.
#[inline(always)]
fn gram_times_block<const FMA: bool>(g: &[f32], vs: &[f32], out: &mut [f32]) {
    const T: usize = 16;
    let k = vs.len() / LOCKSTEP;
    let body = k - k % T;
    for t0 in (0..body).step_by(T) {
        let mut acc = [[0f32; T]; LOCKSTEP];
        for (j, row) in g.chunks_exact(k).enumerate() {
            let tile = &row[t0..t0 + T];
            for (b, accb) in acc.iter_mut().enumerate() {
                let c = vs[b * k + j];
                for l in 0..T {
                    accb[l] = madd::<FMA>(c, tile[l], accb[l]);
                }
            }
        }
        for (b, accb) in acc.iter().enumerate() {
            out[b * k + t0..b * k + t0 + T].copy_from_slice(accb);
        }
    }
    for col in body..k {
        for b in 0..LOCKSTEP {
            let v = &vs[b * k..][..k];
            let mut sum = 0f32;
            for (j, vj) in v.iter().enumerate() {
                sum = madd::<FMA>(*vj, g[j * k + col], sum);
            }
            out[b * k + col] = sum;
        }
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Dot product with 32 independent accumulators, so the compiler keeps several vector
/// registers in flight instead of one serial sum (float addition is not reassociated for us).
#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    const W: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; W];
    let mut ca = a.chunks_exact(W);
    let mut cb = b.chunks_exact(W);
    for (xa, xb) in (&mut ca).zip(&mut cb) {
        for l in 0..W {
            acc[l] = madd::<FMA>(xa[l], xb[l], acc[l]);
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = madd::<FMA>(*x, *y, tail);
    }
    let mut w = W;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] += acc[l + w];
        }
    }
    acc[0] + tail
}

/// `out += s·a`.
#[inline(always)]
fn axpy<const FMA: bool>(s: f32, a: &[f32], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(a) {
        *o = madd::<FMA>(s, *v, *o);
    }
}

/// `out = G·v` for the `k × k` row-major `G`, four rows per pass so each load of `v` feeds
/// four FMAs (the `k²` part of every CG step).
#[inline(always)]
fn gram_times<const FMA: bool>(g: &[f32], v: &[f32], out: &mut [f32]) {
    const W: usize = 16;
    let k = v.len();
    let body = k - k % W;
    let done = k - k % 4;
    for (block, o) in g.chunks_exact(4 * k).zip(out[..done].chunks_exact_mut(4)) {
        let (r0, rest) = block.split_at(k);
        let (r1, rest) = rest.split_at(k);
        let (r2, r3) = rest.split_at(k);
        let mut acc = [[0f32; W]; 4];
        for ((((x, a0), a1), a2), a3) in v[..body]
            .chunks_exact(W)
            .zip(r0[..body].chunks_exact(W))
            .zip(r1[..body].chunks_exact(W))
            .zip(r2[..body].chunks_exact(W))
            .zip(r3[..body].chunks_exact(W))
        {
            for l in 0..W {
                acc[0][l] = madd::<FMA>(a0[l], x[l], acc[0][l]);
                acc[1][l] = madd::<FMA>(a1[l], x[l], acc[1][l]);
                acc[2][l] = madd::<FMA>(a2[l], x[l], acc[2][l]);
                acc[3][l] = madd::<FMA>(a3[l], x[l], acc[3][l]);
            }
        }
        for (r, (row, slot)) in [r0, r1, r2, r3].iter().zip(o.iter_mut()).enumerate() {
            let mut sum: f32 = acc[r].iter().sum();
            for (a, x) in row[body..].iter().zip(&v[body..]) {
                sum = madd::<FMA>(*a, *x, sum);
            }
            *slot = sum;
        }
    }
    for (o, row) in out[done..].iter_mut().zip(g[done * k..].chunks_exact(k)) {
        *o = dot::<FMA>(row, v);
    }
}

/// `out = (YᵀY + λI)·v + Σᵢ extraᵢ (yᵢ·v) yᵢ`, the row's normal-equation operator; `rows`
/// holds the row's `yᵢ` one after another.
#[inline(always)]
fn apply<const FMA: bool>(yty: &[f32], rows: &[f32], extra: &[f32], v: &[f32], out: &mut [f32]) {
    gram_times::<FMA>(yty, v, out);
    add_history_operator::<FMA>(rows, extra, v, out);
}

/// The row's `yᵢ` (the rows of `y` named by `cols`) copied one after another into `out`.
#[inline(always)]
fn gather(y: &[f32], cols: &[u32], k: usize, out: &mut Vec<f32>) {
    out.clear();
    for &i in cols {
        out.extend_from_slice(&y[i as usize * k..][..k]);
    }
}

/// `out += Σᵢ extraᵢ (yᵢ·v) yᵢ`: the history's part of the row operator.
#[inline(always)]
fn add_history_operator<const FMA: bool>(rows: &[f32], extra: &[f32], v: &[f32], out: &mut [f32]) {
    for (yi, &e) in rows.chunks_exact(v.len()).zip(extra) {
        axpy::<FMA>(e * dot::<FMA>(yi, v), yi, out);
    }
}

/// `r += Σᵢ (cᵢ − (cᵢ − 1)·yᵢ·x) yᵢ` with `cᵢ = 1 + extraᵢ`: the history's part of the
/// residual `b − A x` (p = 1 on observed items), in one pass.
#[inline(always)]
fn add_history_residual<const FMA: bool>(rows: &[f32], extra: &[f32], x: &[f32], r: &mut [f32]) {
    for (yi, &e) in rows.chunks_exact(x.len()).zip(extra) {
        axpy::<FMA>(1.0 + e - e * dot::<FMA>(yi, x), yi, r);
    }
}

/// One conjugate-gradient update once `ap = A·p` is known: moves `x` and `r`, turns `p` into
/// the next direction and returns the new `r·r`; None when `p·A·p ≤ 0` (no progress possible).
#[inline(always)]
fn cg_step<const FMA: bool>(
    rs_old: f32,
    p: &mut [f32],
    ap: &[f32],
    x: &mut [f32],
    r: &mut [f32],
) -> Option<f32> {
    let pap = dot::<FMA>(p, ap);
    if pap <= 0.0 {
        return None;
    }
    let a = rs_old / pap;
    axpy::<FMA>(a, p, x);
    axpy::<FMA>(-a, ap, r);
    let rs_new = dot::<FMA>(r, r);
    let beta = rs_new / rs_old;
    for (pd, rd) in p.iter_mut().zip(r.iter()) {
        *pd = madd::<FMA>(beta, *pd, *rd);
    }
    Some(rs_new)
}

/// Conjugate gradient on one row's normal equations, warm-started from `x`. The row's `yᵢ`
/// are first gathered into the scratch (reused across rows), so the four passes over them read
/// contiguous, cache-resident memory instead of scattered rows of `y`.
#[inline(always)]
fn cg_row<const FMA: bool>(
    yty: &[f32],
    y: &[f32],
    cols: &[u32],
    extra: &[f32],
    x: &mut [f32],
    steps: usize,
    scratch: &mut Scratch,
) {
    let k = x.len();
    let Scratch { cg, gathered } = scratch;
    gather(y, cols, k, gathered);
    let rows = gathered.as_slice();
    let (r, rest) = cg.split_at_mut(k);
    let (p, rest) = rest.split_at_mut(k);
    let ap = &mut rest[..k];
    // r = b − A x with b = Σ cᵢ yᵢ (p = 1 on observed items), in one pass over the history.
    gram_times::<FMA>(yty, x, r);
    r.iter_mut().for_each(|v| *v = -*v);
    add_history_residual::<FMA>(rows, extra, x, r);
    p.copy_from_slice(r);
    let mut rs_old = dot::<FMA>(r, r);
    for _ in 0..steps {
        if rs_old < 1e-20 {
            break;
        }
        apply::<FMA>(yty, rows, extra, p, ap);
        match cg_step::<FMA>(rs_old, p, ap, x, r) {
            Some(rs_new) => rs_old = rs_new,
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::matrix_from_triplets;

    #[test]
    fn cg_matches_the_exact_solution() {
        // Two items, known factors; fold-in must solve the 2×2 system exactly.
        let m = AlsModel {
            factors: 2,
            regularization: 0.1,
            alpha: 2.0,
            user_factors: vec![],
            item_factors: vec![1.0, 0.0, 0.5, 1.0],
            gram: GramCache::default(),
        };
        let x = m.fold_in(&[(1, 3.0)]);
        // A = YᵀY + λI + alpha·r·y1y1ᵀ ; b = (1 + alpha·r) y1
        let (a11, a12, a22) = (1.25 + 0.1 + 6.0 * 0.25, 0.5 + 6.0 * 0.5, 1.0 + 0.1 + 6.0);
        let (b1, b2) = (7.0 * 0.5, 7.0);
        let det = a11 * a22 - a12 * a12;
        let exact = [(a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det];
        assert!(
            (x[0] - exact[0]).abs() < 1e-4 && (x[1] - exact[1]).abs() < 1e-4,
            "{x:?} vs {exact:?}"
        );
    }

    #[test]
    fn lockstep_gram_product_equals_the_naive_one() {
        for k in [37usize, 64] {
            // Symmetric, as YᵀY + λI is.
            let mut g = vec![0f32; k * k];
            for a in 0..k {
                for b in 0..=a {
                    let v = (((a * 31 + b * 17) % 101) as f32) / 50.0 - 1.0;
                    g[a * k + b] = v;
                    g[b * k + a] = v;
                }
            }
            let vs: Vec<f32> = (0..LOCKSTEP * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut out = vec![0f32; LOCKSTEP * k];
            gram_times_block::<false>(&g, &vs, &mut out);
            for b in 0..LOCKSTEP {
                for a in 0..k {
                    let want: f32 = (0..k).map(|j| g[a * k + j] * vs[b * k + j]).sum();
                    let got = out[b * k + a];
                    assert!(
                        (got - want).abs() < 1e-4,
                        "k {k}, vector {b}, row {a}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn lockstep_solves_equal_row_by_row_solves() {
        // Rows of different lengths (one empty), so some converge before others.
        let (k, n) = (12, 30);
        let y: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919 % 97) as f32) / 97.0 - 0.4)
            .collect();
        let yty = gram(&y, k, 0.1);
        let rows: Vec<Vec<(usize, f64)>> = vec![
            vec![(1, 3.0), (4, 1.0), (9, 2.0)],
            vec![],
            vec![(0, 1.0)],
            (0..n).step_by(2).map(|i| (i, 1.0 + i as f64)).collect(),
            vec![(5, 8.0), (6, 8.0)],
        ];
        let triplets: Vec<(usize, usize, f64)> = rows
            .iter()
            .enumerate()
            .flat_map(|(u, r)| r.iter().map(move |&(i, v)| (u, i, v)))
            .collect();
        let c = matrix_from_triplets(rows.len(), n, &triplets);
        let side = Side::new(&c, 2.0);
        let start: Vec<f32> = (0..rows.len() * k)
            .map(|i| (i as f32 * 0.01).cos() * 0.1)
            .collect();
        let mut single = start.clone();
        let mut scratch = Scratch::new(k);
        for (u, xu) in single.chunks_exact_mut(k).enumerate() {
            let (cols, extra) = side.row(u);
            cg_row::<false>(&yty, &y, cols, extra, xu, 3, &mut scratch);
        }
        let mut locked = start;
        solve_rows_body::<false>(&yty, &y, k, &side, 0, &mut locked, 3);
        for (a, b) in locked.iter().zip(&single) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert_ne!(locked, vec![0f32; rows.len() * k]);
    }

    #[test]
    fn blocked_gram_product_equals_the_naive_one() {
        // k = 37: four-row blocks, a 16-wide body, a column tail and leftover rows.
        let k = 37;
        let g: Vec<f32> = (0..k * k)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let v: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
        let naive: Vec<f32> = g
            .chunks_exact(k)
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        let mut out = vec![0f32; k];
        gram_times::<false>(&g, &v, &mut out);
        for (a, b) in out.iter().zip(&naive) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn fits_observed_pairs_above_unobserved() {
        let x = matrix_from_triplets(
            4,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 2, 1.0),
                (2, 3, 1.0),
                (3, 2, 1.0),
                (3, 3, 1.0),
            ],
        );
        let params = AlsParams {
            factors: 4,
            iterations: 10,
            alpha: 10.0,
            ..Default::default()
        };
        let m = AlsModel::fit(&x, &params, |_| true).unwrap();
        let s = m.score_vector(m.user_vector(0).unwrap());
        assert!(s[0] > s[2] && s[1] > s[3], "{s:?}");
        assert!(
            AlsModel::fit(
                &x,
                &AlsParams {
                    factors: 0,
                    ..params
                },
                |_| true
            )
            .is_err()
        );
    }
}
