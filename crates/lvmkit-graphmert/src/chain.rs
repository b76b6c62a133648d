//! The leafy chain graph: R root nodes (the text tokens, in order) each with K leaves (slots for
//! an injected tail's tokens). Nodes are stored flat: roots 0..R, then leaf k of root i at
//! R + K·i + k. Edges: root i – root i+1, root i – each of its leaves, leaf k – leaf k+1 of the
//! same root. Shortest paths have a closed form, so no Floyd–Warshall is needed.

use serde::{Deserialize, Serialize};

/// How many roots a graph has and how many leaves each root (also `graphmert data`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
pub struct ChainLayout {
    /// Root nodes per sequence (text tokens; the paper: 128).
    #[arg(long, default_value_t = 64)]
    pub roots: usize,
    /// Leaves per root (tail tokens; the paper: 7).
    #[arg(long, default_value_t = 7)]
    pub leaves: usize,
}

/// Where a node sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Root(usize),
    /// (root, leaf index)
    Leaf(usize, usize),
}

impl ChainLayout {
    pub fn nodes(&self) -> usize {
        self.roots * (1 + self.leaves)
    }

    pub fn leaf(&self, root: usize, k: usize) -> usize {
        debug_assert!(root < self.roots && k < self.leaves);
        self.roots + self.leaves * root + k
    }

    pub fn node(&self, i: usize) -> Node {
        if i < self.roots {
            Node::Root(i)
        } else {
            let j = i - self.roots;
            Node::Leaf(j / self.leaves, j % self.leaves)
        }
    }

    /// Shortest-path length between two nodes.
    pub fn distance(&self, a: usize, b: usize) -> u32 {
        let d = |i: usize, j: usize| i.abs_diff(j) as u32;
        match (self.node(a), self.node(b)) {
            (Node::Root(i), Node::Root(j)) => d(i, j),
            (Node::Root(i), Node::Leaf(j, _)) | (Node::Leaf(j, _), Node::Root(i)) => d(i, j) + 1,
            (Node::Leaf(i, x), Node::Leaf(j, y)) if i == j => d(x, y).min(2),
            (Node::Leaf(i, _), Node::Leaf(j, _)) => d(i, j) + 2,
        }
    }

    /// Every shortest-path length, [nodes × nodes] row-major.
    pub fn distances(&self) -> Vec<u32> {
        let n = self.nodes();
        let mut out = Vec::with_capacity(n * n);
        for a in 0..n {
            for b in 0..n {
                out.push(self.distance(a, b));
            }
        }
        out
    }

    /// The undirected edges, each once as (smaller, larger).
    pub fn edges(&self) -> Vec<(usize, usize)> {
        let mut e = Vec::new();
        for i in 0..self.roots {
            if i + 1 < self.roots {
                e.push((i, i + 1));
            }
            for k in 0..self.leaves {
                e.push((i, self.leaf(i, k)));
                if k + 1 < self.leaves {
                    e.push((self.leaf(i, k), self.leaf(i, k + 1)));
                }
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn closed_form_distances_equal_breadth_first_search_over_the_edges() {
        for (roots, leaves) in [(1, 1), (2, 3), (6, 3), (5, 7), (9, 1)] {
            let g = ChainLayout { roots, leaves };
            let n = g.nodes();
            let mut adj = vec![Vec::new(); n];
            for (a, b) in g.edges() {
                adj[a].push(b);
                adj[b].push(a);
            }
            for s in 0..n {
                let mut dist = vec![u32::MAX; n];
                dist[s] = 0;
                let mut q = VecDeque::from([s]);
                while let Some(u) = q.pop_front() {
                    for &v in &adj[u] {
                        if dist[v] == u32::MAX {
                            dist[v] = dist[u] + 1;
                            q.push_back(v);
                        }
                    }
                }
                for (t, &want) in dist.iter().enumerate() {
                    assert_eq!(g.distance(s, t), want, "R={roots} K={leaves} {s}→{t}");
                }
            }
        }
    }

    #[test]
    fn leaves_are_numbered_after_the_roots() {
        let g = ChainLayout {
            roots: 128,
            leaves: 7,
        };
        assert_eq!(g.nodes(), 1024);
        assert_eq!(g.leaf(0, 0), 128);
        assert_eq!(g.leaf(3, 2), 128 + 7 * 3 + 2);
        assert_eq!(g.node(g.leaf(127, 6)), Node::Leaf(127, 6));
    }
}
