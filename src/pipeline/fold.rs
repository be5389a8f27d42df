//! A fold over a batch of items on the rayon pool, for callers outside the pipeline whose
//! per-item work is CPU-bound (the verify sweep's token search) and order-independent.

use rayon::prelude::*;

/// Folds `items` in parallel: each worker starts from `init()`, feeds it items with `step`,
/// and the partial results are combined with `merge`. `merge` must be associative and
/// commutative (counts), since the split of the batch between workers is not fixed.
pub fn par_fold<T, A, E>(
    items: &[T],
    init: impl Fn() -> A + Sync + Send,
    step: impl Fn(&mut A, &T) -> Result<(), E> + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> Result<A, E>
where
    T: Sync,
    A: Send,
    E: Send,
{
    items
        .par_iter()
        .try_fold(&init, |mut acc, item| step(&mut acc, item).map(|()| acc))
        .try_reduce(&init, |a, b| Ok(merge(a, b)))
}

/// [`par_fold`] of an owned batch, run on the rayon pool while the caller's runtime goes on
/// (reading the next batch, serving other queries).
pub async fn par_fold_owned<T, A, E>(
    items: Vec<T>,
    init: impl Fn() -> A + Sync + Send + 'static,
    step: impl Fn(&mut A, &T) -> Result<(), E> + Sync + Send + 'static,
    merge: impl Fn(A, A) -> A + Sync + Send + 'static,
) -> Result<A, E>
where
    T: Sync + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // The receiver is gone only when the caller was dropped: nobody wants the result.
        let _ = tx.send(par_fold(&items, init, step, merge));
    });
    // A panicking rayon job aborts the process, so the sender is always used.
    rx.await.expect("the rayon job sends its result")
}
