//! The awake pool: the parts of one matrix product shared between the calling thread and helper
//! threads that stay awake (spinning on one atomic word) for as long as products keep coming, so
//! that a decoding token's forty-odd products each cost one cheap barrier instead of a wake-up.
//!
//! With the `threads` feature the helpers (in wasm the workers of wasm-bindgen-rayon's pool,
//! natively threads of their own) are started by the first shared product and run `helper` from
//! then on: spinning while products keep coming, asleep on a condition variable after about a
//! millisecond without one (between generations, or between tokens when the page is slow), until
//! the next product's caller wakes them. Without the feature, and with one thread, every part runs
//! here, in order. The parts of a product are whole output rows computed by the same
//! code whichever thread takes them, so the results do not depend on the number of threads.
//!
//! The handshake (one word, `STATE`: the product's number in the high 32 bits, the next unclaimed
//! part in the low 32): the caller writes the job, then publishes a new number with the count at
//! 0. Any thread claims part i by moving the word from (n, i) to (n, i + 1) with a compare-and-swap,
//! runs it and counts it in `DONE`; the caller claims parts too and returns once `DONE` has them
//! all. A helper that read a job late can never run it: its compare-and-swap names the old number.

#[cfg(feature = "threads")]
mod imp {
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
    use std::sync::{Condvar, Mutex};

    /// (product number << 32) | next unclaimed part
    static STATE: AtomicU64 = AtomicU64::new(0);
    /// parts of the current product
    static PARTS: AtomicU32 = AtomicU32::new(0);
    /// parts of the current product finished
    static DONE: AtomicU32 = AtomicU32::new(0);
    /// the current product's job: a `*const Job` on the caller's stack, valid while it waits
    static JOB: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());
    /// one caller at a time (a second one, e.g. a concurrent test, runs its parts alone)
    static BUSY: AtomicBool = AtomicBool::new(false);
    /// helpers started (each lives from then on, spinning or asleep)
    static SPAWNED: AtomicUsize = AtomicUsize::new(0);
    /// helpers asleep on `WAKE`
    static SLEEPING: AtomicUsize = AtomicUsize::new(0);
    static LOCK: Mutex<()> = Mutex::new(());
    static WAKE: Condvar = Condvar::new();
    /// threads to use, the caller's included (0: not set, every thread of the pool plus the caller)
    static THREADS: AtomicUsize = AtomicUsize::new(0);
    /// parts run by helpers since the start (tests check the helpers really work)
    static HELPED: AtomicU64 = AtomicU64::new(0);

    type Job<'a> = &'a (dyn Fn(usize) + Sync);

    /// Milliseconds a helper spins without a new product before it sleeps: longer than the gaps
    /// between a token's products (attention included), shorter than a busy core can afford to
    /// lose. Asleep, the next product's caller wakes it. Timed by the clock, read every
    /// `SPINS_PER_LOOK` spins: counted in spins (2^20 before), the wait lasted as long as the
    /// engine's code for the loop made it, which nothing measured (a function that never returns
    /// may never get the browser's optimised code).
    const SPIN_MS: f64 = 1.0;
    const SPINS_PER_LOOK: u32 = 1 << 10;

    pub fn threads() -> usize {
        match THREADS.load(Relaxed) {
            0 => most_helpers() + 1,
            n => n,
        }
        .max(1)
    }

    /// In wasm the helpers are the workers of wasm-bindgen-rayon's pool (`initThreadPool(n)`),
    /// which nothing else uses; natively they are threads of their own, one per further core
    /// (rayon's pool also serves the tokenizers crate, which a helper that never returns would
    /// starve).
    fn most_helpers() -> usize {
        #[cfg(target_arch = "wasm32")]
        return rayon::current_num_threads();
        // asked once: on Linux the answer reads the affinity mask and cgroup files, and this runs
        // for every product
        #[cfg(not(target_arch = "wasm32"))]
        {
            static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) - 1
        }
    }

    fn spawn(i: usize) -> bool {
        #[cfg(target_arch = "wasm32")]
        {
            rayon::spawn(move || helper(i));
            true
        }
        #[cfg(not(target_arch = "wasm32"))]
        std::thread::Builder::new().name(format!("pool helper {i}")).spawn(move || helper(i)).is_ok()
    }

    pub fn set_threads(n: usize) {
        THREADS.store(n, Relaxed);
    }

    pub fn setting() -> usize {
        THREADS.load(Relaxed)
    }

    pub fn helped() -> u64 {
        HELPED.load(Relaxed)
    }

    pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
        let want = threads().min(most_helpers() + 1).min(parts);
        if want <= 1 || BUSY.compare_exchange(false, true, Acquire, Relaxed).is_err() {
            (0..parts).for_each(f);
            return;
        }
        // helpers not yet started are started now; they join late (the parts do not wait)
        while SPAWNED.load(Relaxed) < want - 1 {
            let i = SPAWNED.load(Relaxed);
            if !spawn(i) {
                break;
            }
            SPAWNED.store(i + 1, Relaxed);
        }
        let job: Job = f;
        JOB.store(&job as *const Job as *mut (), Relaxed);
        PARTS.store(parts as u32, Relaxed);
        DONE.store(0, Relaxed);
        let number = (STATE.load(Relaxed) >> 32) + 1;
        STATE.store(number << 32, SeqCst);
        // a helper that fell asleep either sees the new number or is woken (both SeqCst)
        if SLEEPING.load(SeqCst) > 0 {
            let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
            WAKE.notify_all();
        }
        // the caller works too, then waits for the parts the helpers took
        while let Some(i) = claim(number << 32, parts) {
            f(i);
            DONE.fetch_add(1, Release);
        }
        while (DONE.load(Acquire) as usize) < parts {
            std::hint::spin_loop();
        }
        BUSY.store(false, Release);
    }

    /// The next part of product `number` (given as its state word with no part claimed), if any.
    #[inline]
    fn claim(number: u64, parts: usize) -> Option<usize> {
        let mut v = STATE.load(Acquire);
        loop {
            let i = (v & 0xffff_ffff) as usize;
            if v & !0xffff_ffff != number || i >= parts {
                return None;
            }
            match STATE.compare_exchange_weak(v, v + 1, AcqRel, Acquire) {
                Ok(_) => return Some(i),
                Err(now) => v = now,
            }
        }
    }

    /// Helper `i` (0-based): takes parts of every product while the thread count has room for it.
    fn helper(i: usize) {
        let mut seen = STATE.load(Acquire) & !0xffff_ffff;
        // spins since the last product seen, and when the clock first read them (NaN: not yet)
        let (mut idle, mut since) = (0u32, f64::NAN);
        loop {
            let v = STATE.load(Acquire);
            let number = v & !0xffff_ffff;
            if number != seen && i + 1 < threads() {
                // read under this number: if the claim below succeeds, the job is still this one
                let (job, parts) = (JOB.load(Relaxed) as *const Job, PARTS.load(Relaxed) as usize);
                if let Some(p) = claim(number, parts) {
                    // SAFETY: the claim succeeded, so the caller of product `number` is waiting
                    // for this part and the job it published lives until DONE counts it
                    let f: Job = unsafe { *job };
                    f(p);
                    HELPED.fetch_add(1, Relaxed);
                    DONE.fetch_add(1, Release);
                    (idle, since) = (0, f64::NAN);
                    continue;
                }
                // its parts were all taken already: products keep coming all the same
                (idle, since) = (0, f64::NAN);
            }
            seen = number;
            idle += 1;
            if idle % SPINS_PER_LOOK != 0 {
                std::hint::spin_loop();
                continue;
            }
            // natively a helper can share a core with the caller (tests, a busy machine)
            #[cfg(not(target_arch = "wasm32"))]
            std::thread::yield_now();
            let now = crate::now_ms();
            if since.is_nan() {
                since = now;
            }
            if now - since < SPIN_MS {
                continue;
            }
            // asleep until the next product (see `run` for the order of the two SeqCst steps)
            let mut held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
            SLEEPING.fetch_add(1, SeqCst);
            while STATE.load(SeqCst) & !0xffff_ffff == seen {
                held = WAKE.wait(held).unwrap_or_else(|e| e.into_inner());
            }
            SLEEPING.fetch_sub(1, SeqCst);
            drop(held);
            (idle, since) = (0, f64::NAN);
        }
    }
}

#[cfg(not(feature = "threads"))]
mod imp {
    pub fn threads() -> usize {
        1
    }
    pub fn set_threads(_: usize) {}
    pub fn setting() -> usize {
        0
    }
    pub fn helped() -> u64 {
        0
    }
    pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
        (0..parts).for_each(f)
    }
}

/// Threads a product may use, the caller's included: 1 without the `threads` feature; with it,
/// as set by `set_threads`, or by default every thread of the pool plus the caller.
pub fn threads() -> usize {
    imp::threads()
}

/// Uses at most `n` threads (the caller's included) from now on; 1 keeps every part here, 0
/// goes back to the default.
pub fn set_threads(n: usize) {
    imp::set_threads(n)
}

/// Parts the helper threads have run since the start (0 without the `threads` feature).
pub fn helped() -> u64 {
    imp::helped()
}

/// Multiply-adds (of the quantized kernels) below which a piece of work stays on the calling
/// thread. Measured in Chromium on 2 cores: at 2^16 the default model's decoding products were
/// shared, and it decoded 1,270 tokens/s on 2 threads against 1,750 on one; at 2^19 none of them
/// is (its largest, the LM head, is 2^18.6), while every product of GPT-2 124M still is (its
/// smallest, 768 x 768, is 2^19.2).
pub const PARALLEL_MIN_WORK: usize = 1 << 19;

/// Runs `f(0) .. f(parts - 1)`, each exactly once, and returns when all have run: on this thread
/// and the awake helpers when there are several threads and the `work` (multiply-adds, all parts
/// together) is worth sharing, else here in order.
pub fn run(parts: usize, work: usize, f: &(dyn Fn(usize) + Sync)) {
    if work >= PARALLEL_MIN_WORK && threads() > 1 {
        imp::run(parts, f)
    } else {
        (0..parts).for_each(f)
    }
}

/// A buffer the parts of one `run` write, each its own piece.
pub struct Disjoint<'a, T> {
    ptr: *mut T,
    len: usize,
    _buf: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: the parts write pieces that do not overlap (the contract of `piece`), and `run` returns
// only after all of them ended, inside the buffer's borrow
unsafe impl<T: Send> Send for Disjoint<'_, T> {}
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    pub fn new(buf: &'a mut [T]) -> Self {
        Disjoint { ptr: buf.as_mut_ptr(), len: buf.len(), _buf: std::marker::PhantomData }
    }

    /// `len` items from `start`.
    ///
    /// # Safety
    /// No two pieces taken at the same time may overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn piece(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start <= self.len && len <= self.len - start, "piece {start}+{len} of {}", self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }
}

/// Milliseconds `f` takes on `threads` threads (the caller's included), the best of `reps` runs;
/// the thread setting is put back after.
pub fn time(threads: usize, reps: usize, f: &mut dyn FnMut()) -> f64 {
    let before = imp::setting();
    set_threads(threads);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t0 = crate::now_ms();
        f();
        best = best.min(crate::now_ms() - t0);
    }
    set_threads(before);
    best
}
