//! The request-response codec for catch-up: one message per substream, the bytes of the
//! protocol codec (`SyncRequest` / `SyncResponse`), read with a hard size limit.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The catch-up protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/swarmvote/sync/1");

/// Raw frames, bounded by `limit` bytes.
#[derive(Clone, Debug)]
pub struct SyncCodec {
    /// Largest request or response accepted.
    pub limit: usize,
}

async fn read_bounded<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    // Read at most one byte past the limit, so an oversized frame is detected without
    // buffering it.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    io.take(cap).read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("sync frame exceeds {limit} bytes"),
        ));
    }
    Ok(buf)
}

async fn write_all<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: Vec<u8>,
) -> std::io::Result<()> {
    io.write_all(&bytes).await?;
    io.close().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_bounded(io, self.limit).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_bounded(io, self.limit).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        write_all(io, req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()> {
        write_all(io, res).await
    }
}
