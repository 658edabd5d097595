//! What the binary's tests share.

/// A manager whose connections are nothing: a runtime pool with no
/// database, for tests of sizing and policy alone.
pub struct Noop;

impl poolcast::runtime::Manager for Noop {
    type Connection = ();
    type Error = std::convert::Infallible;
    async fn create(&self) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn recycle(
        &self,
        _: &mut (),
        _: poolcast::runtime::RecycleMode,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}
