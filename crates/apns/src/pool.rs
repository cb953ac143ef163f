//! Clients keyed by credential, so a server holds one pool and many certificates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Client, Credential, Endpoint, Error};

/// One [`Client`] (so one HTTP/2 connection) per credential id, all for one [`Endpoint`].
/// Cheap to clone; clones share the clients.
///
/// The id is the caller's: for Wallet, the template id plus the certificate's
/// [`Credential::fingerprint`], so a replaced certificate gets a new client. Remove an entry when
/// its certificate changes; sends already in flight on the removed client finish normally and its
/// connection closes once the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Pool {
    endpoint: Endpoint,
    clients: Arc<Mutex<HashMap<String, Client>>>,
}

impl Pool {
    /// An empty pool for `endpoint`.
    #[must_use]
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            clients: Arc::default(),
        }
    }

    /// The endpoint every client of this pool talks to.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The client for `id`, if there is one.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Client> {
        self.clients().get(id).cloned()
    }

    /// The client for `id`, creating it from the credential `make` returns if there is none.
    /// `make` is only called when needed (so decrypting a key happens once), and under the
    /// pool's lock: keep it quick.
    ///
    /// # Errors
    /// Whatever `make` returns, or [`Error`] from [`Client::new`].
    pub fn get_or_insert_with<E: From<Error>>(
        &self,
        id: &str,
        make: impl FnOnce() -> Result<Credential, E>,
    ) -> Result<Client, E> {
        let mut clients = self.clients();
        if let Some(client) = clients.get(id) {
            return Ok(client.clone());
        }
        let client = Client::new(&self.endpoint, &make()?)?;
        clients.insert(id.to_owned(), client.clone());
        Ok(client)
    }

    /// Creates the client for `id` from `credential`, replacing any previous one.
    ///
    /// # Errors
    /// [`Error`] from [`Client::new`].
    pub fn insert(&self, id: &str, credential: &Credential) -> Result<Client, Error> {
        let client = Client::new(&self.endpoint, credential)?;
        self.clients().insert(id.to_owned(), client.clone());
        Ok(client)
    }

    /// Drops the client for `id` (its certificate changed or its template is gone).
    pub fn remove(&self, id: &str) -> Option<Client> {
        self.clients().remove(id)
    }

    /// Keeps only the clients whose id passes `keep`.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.clients().retain(|id, _| keep(id));
    }

    /// How many clients the pool holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.clients().len()
    }

    /// Whether the pool holds no client.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.clients().is_empty()
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
