//! Loading, using and dropping a model leaves nothing behind: the bytes held after the 10th and
//! the 40th load are the same (a counting allocator, natively; the browser's soak reads the same count).
// natively only: the wasm build has its own counting allocator (src/web.rs, `heapBytes`)
#![cfg(not(target_arch = "wasm32"))]
use inside_gpt::session::Model;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const SHIPPED: &[u8] = include_bytes!("../www/models/shakespeare-q8_0.gguf");

#[test]
fn loading_a_model_again_and_again_holds_no_more_memory() {
    // a model loaded, used (text encoded, a token generated, a score) and dropped
    let load = || {
        let m = Model::from_bytes(SHIPPED).unwrap();
        let (mut g, _) = inside_gpt::session::Generator::new(&m, "KING. What say you of the tiger?", Default::default()).unwrap();
        g.step(&m, None).unwrap();
        m.score("To be, or not to be, that is the question").unwrap();
        drop(g);
        drop(m);
    };
    let tok = || drop(inside_gpt::tokenizer::Tokenizer::from_gguf(&inside_gpt::gguf::Gguf::parse(SHIPPED).unwrap()).unwrap());
    // streamed, as the browser loads: in pieces of 1 MiB
    let streamed = || {
        let mut inc = inside_gpt::gguf::Incoming::new(SHIPPED.len() as u64);
        SHIPPED.chunks(1 << 20).for_each(|c| inc.push(c).unwrap());
        drop(Model::from_incoming(inc, inside_gpt::model::Kernels::Ours).unwrap());
    };
    for (name, f) in [("tokenizer", &tok as &dyn Fn()), ("model", &load), ("streamed model", &streamed)] {
        (0..10).for_each(|_| f());
        let a = LIVE.load(Ordering::Relaxed);
        (0..30).for_each(|_| f());
        let b = LIVE.load(Ordering::Relaxed);
        println!("{name}: {a} -> {b} bytes held");
        assert!(b - a <= 1024, "{name}: 30 more loads hold {} more bytes", b - a);
    }
}
