//! Typed indices of the world's entities: a request, an actor, a session and an instance each
//! have their own id type, so one kind of index cannot be passed where another is expected.
//! Each is a `u32` (events stay small plain values) and indexes an [`Arena`] of its entities.
//!
//! An arena is a vector with a free list: a released slot is reused, last released first, so
//! memory follows the peak number of live entities and the steady state allocates nothing.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// An id that indexes an [`Arena`].
pub trait ArenaId: Copy {
    /// The id of slot `index`.
    fn from_index(index: usize) -> Self;
    /// The slot this id names.
    fn index(self) -> usize;
}

macro_rules! arena_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl ArenaId for $name {
            #[inline]
            fn from_index(index: usize) -> Self {
                Self(index as u32)
            }

            #[inline]
            fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

arena_id!(
    /// A request slot (reused once the request ends; see its generation).
    RequestId
);
arena_id!(
    /// An actor: a closed-workload user, or the visitor of one open-workload arrival.
    ActorId
);
arena_id!(
    /// A conversation session.
    SessionId
);
arena_id!(
    /// An instance of the service (never reused: a stopped instance keeps its record).
    InstanceId
);

/// Entities of one kind indexed by their id, with a free list of released slots.
#[derive(Debug)]
pub struct Arena<I, T> {
    items: Vec<T>,
    free: Vec<I>,
    id: PhantomData<I>,
}

impl<I, T> Default for Arena<I, T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
            id: PhantomData,
        }
    }
}

impl<I: ArenaId, T> Arena<I, T> {
    /// Adds `item` in a new slot.
    pub fn push(&mut self, item: T) -> I {
        self.items.push(item);
        I::from_index(self.items.len() - 1)
    }

    /// Takes the most recently released slot, whose old entity the caller resets in place
    /// (keeping its allocations).
    pub fn reuse(&mut self) -> Option<I> {
        self.free.pop()
    }

    /// Returns slot `id` to the free list.
    pub fn release(&mut self, id: I) {
        self.free.push(id);
    }

    /// Slots ever allocated: the peak number of live entities.
    pub fn slots(&self) -> usize {
        self.items.len()
    }

    /// Slots in use (allocated and not released).
    pub fn in_use(&self) -> usize {
        self.items.len() - self.free.len()
    }

    /// Every slot's id, in slot order.
    pub fn ids(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.items.len()).map(I::from_index)
    }

    /// Every slot's entity, in slot order.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<I: ArenaId, T> Index<I> for Arena<I, T> {
    type Output = T;

    #[inline]
    fn index(&self, id: I) -> &T {
        &self.items[id.index()]
    }
}

impl<I: ArenaId, T> IndexMut<I> for Arena<I, T> {
    #[inline]
    fn index_mut(&mut self, id: I) -> &mut T {
        &mut self.items[id.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_slots_are_reused_last_first_and_counted() {
        let mut arena: Arena<RequestId, &str> = Arena::default();
        let a = arena.push("a");
        let b = arena.push("b");
        assert_eq!((a, b), (RequestId(0), RequestId(1)));
        arena.release(a);
        arena.release(b);
        assert_eq!((arena.slots(), arena.in_use()), (2, 0));
        assert_eq!(
            arena.reuse(),
            Some(b),
            "the last released slot comes back first"
        );
        arena[b] = "b2";
        assert_eq!(arena[RequestId(1)], "b2");
        assert_eq!(arena.reuse(), Some(a));
        assert_eq!(arena.reuse(), None);
        assert_eq!(arena.ids().collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(arena.as_slice(), &["a", "b2"]);
    }
}
