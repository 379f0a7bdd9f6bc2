//! A request body that tells the pacer when the connection takes it: the moment the request is written,
//! as near the wire as the HTTP client shows it (see [`pacer::Permit::clear_to_send`](super::pacer)).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};

use super::pacer::WriteMark;

/// The bytes of a request body, handed to the connection in one frame; its [`WriteMark`] is marked
/// then.
pub struct Watched {
    bytes: Option<Bytes>,
    mark: Option<WriteMark>,
}

impl Watched {
    pub fn new(bytes: Vec<u8>, mark: WriteMark) -> Watched {
        Watched {
            bytes: Some(Bytes::from(bytes)),
            mark: Some(mark),
        }
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(bytes) = self.bytes.take() else {
            return Poll::Ready(None);
        };
        if let Some(mark) = self.mark.take() {
            mark.written();
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}
