//! Pipes and terminals are read on a thread of their own, so that an interrupt ends the input at once even
//! while the pipe has nothing to give: the reader sees the end of input, and the read that is still
//! blocked stays behind on its thread until the process exits.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use super::decode::DynRead;
use crate::interrupt::Interrupt;

enum Msg {
    Data(Vec<u8>),
    End,
    Fail(io::Error),
    Stop,
}

/// `raw`, read ahead on a thread; it ends early once `interrupt` starts stopping.
pub fn interruptible(raw: DynRead, interrupt: &Arc<Interrupt>) -> DynRead {
    let (tx, rx) = sync_channel::<Msg>(4);
    let stopper = tx.clone();
    interrupt.on_stop(move || {
        // A full channel means the reader has data to take first; it sees the stop after that.
        let _ = stopper.try_send(Msg::Stop);
    });
    let spawned = std::thread::Builder::new()
        .name("input-pump".into())
        .spawn(move || pump(raw, tx));
    match spawned {
        Ok(_) => Box::new(Pumped {
            rx: Some(rx),
            chunk: Vec::new(),
            at: 0,
            interrupt: interrupt.clone(),
        }),
        Err(e) => Box::new(Failed(Some(e))),
    }
}

fn pump(mut raw: DynRead, tx: std::sync::mpsc::SyncSender<Msg>) {
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        let msg = match raw.read(&mut buf) {
            // One read of nothing is the end (one Ctrl-D at a terminal).
            Ok(0) => Msg::End,
            Ok(n) => {
                buf.truncate(n);
                Msg::Data(buf)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Msg::Fail(e),
        };
        let last = !matches!(msg, Msg::Data(_));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

struct Pumped {
    /// `None` once the input has ended.
    rx: Option<Receiver<Msg>>,
    chunk: Vec<u8>,
    at: usize,
    interrupt: Arc<Interrupt>,
}

impl Read for Pumped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.chunk.len() {
                let n = buf.len().min(self.chunk.len() - self.at);
                buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            let Some(rx) = &self.rx else { return Ok(0) };
            if self.interrupt.stopping() {
                self.rx = None;
                return Ok(0);
            }
            match rx.recv() {
                Ok(Msg::Data(d)) => {
                    self.chunk = d;
                    self.at = 0;
                }
                Ok(Msg::Fail(e)) => {
                    self.rx = None;
                    return Err(e);
                }
                Ok(Msg::End | Msg::Stop) | Err(_) => {
                    self.rx = None;
                    return Ok(0);
                }
            }
        }
    }
}

struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Level;
    use std::time::{Duration, Instant};

    /// A pipe that gives one chunk, then blocks forever.
    struct Stalled(bool);
    impl Read for Stalled {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.0 {
                self.0 = true;
                buf[..6].copy_from_slice(b"a@b.c\n");
                return Ok(6);
            }
            std::thread::sleep(Duration::from_secs(3600));
            Ok(0)
        }
    }

    #[test]
    fn an_interrupt_ends_a_blocked_input_at_once() {
        let interrupt = Arc::new(Interrupt::default());
        let mut r = interruptible(Box::new(Stalled(false)), &interrupt);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 6);
        let i2 = interrupt.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            i2.raise(Level::Stopping, 2);
        });
        let t = Instant::now();
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn passes_everything_through_to_the_end() {
        let interrupt = Arc::new(Interrupt::default());
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = interruptible(Box::new(io::Cursor::new(data.clone())), &interrupt);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
