//! Where a new token comes from when the server refused the one sent.

use std::future::Future;
use std::pin::Pin;

/// Why a [`TokenSource`] could not give a token.
pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// What [`TokenSource::refresh`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, TokenError>> + Send + 'a>>;

/// Gives a fresh bearer token when the core asks for one ([`upload_session::Action::RefreshToken`]:
/// the server answered 401 to a token that was valid when it was sent).
///
/// Any `FnMut() -> impl Future<Output = Result<String, TokenError>>` closure is one (an
/// `async` closure or a function returning a future); a synchronous function is one through
/// [`SyncTokenSource`]. Without a source the driver sends the same token once more, and the
/// core fails the upload on a second refusal in a row.
pub trait TokenSource: Send {
    /// A token to send from now on. An error ends the upload with
    /// [`Error::Token`](crate::Error::Token): keep the token itself out of it.
    fn refresh(&mut self) -> TokenFuture<'_>;
}

impl<F, Fut> TokenSource for F
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<String, TokenError>> + Send + 'static,
{
    fn refresh(&mut self) -> TokenFuture<'_> {
        Box::pin(self())
    }
}

/// A synchronous token function as a [`TokenSource`]. It runs on the runtime's thread: keep it
/// quick (a cached value, a file read), or write an async source for a network round trip.
pub struct SyncTokenSource<F>(pub F);

impl<F> TokenSource for SyncTokenSource<F>
where
    F: FnMut() -> Result<String, TokenError> + Send,
{
    fn refresh(&mut self) -> TokenFuture<'_> {
        Box::pin(std::future::ready((self.0)()))
    }
}

impl<F> std::fmt::Debug for SyncTokenSource<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncTokenSource")
    }
}
