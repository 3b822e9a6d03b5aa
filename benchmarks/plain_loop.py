"""The baseline of docs/benchmarks.md section 3: a plain PyTorch GAN training loop, written the way the
official PyTorch DCGAN example (pytorch/examples, dcgan/main.py) writes it. Nothing of gankit's loop is
used; only the networks come from ``gankit.nets.build_nets`` so that both loops train identical models.

D returns gankit's ``DOutput``, hence ``.logits``; ``BCEWithLogitsLoss`` on the logits is the same math
as gankit's softplus losses (non-saturating G). Batches are drawn by random index from an in-memory
float tensor (no DataLoader); noise is fresh every step.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.optim as optim


class PlainLoop:
    """``netG``/``netD`` are trained on ``data`` [N, ...] (float32, model space) by ``run(steps)``."""

    def __init__(self, netG, netD, data, batch_size, nz, g_optim, d_optim, log_every=50,
                 freeze_d_in_g=False):
        self.netG, self.netD, self.data = netG, netD, data
        # The example computes D's weight gradients in G's step too (and discards them at the next
        # netD.zero_grad()); freeze_d_in_g=True skips them, as gankit does, to isolate loop overhead.
        self.freeze_d_in_g = freeze_d_in_g
        self.batch_size, self.nz, self.log_every = batch_size, nz, log_every
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizerD = optim.Adam(netD.parameters(), lr=d_optim.lr, betas=tuple(d_optim.betas))
        self.optimizerG = optim.Adam(netG.parameters(), lr=g_optim.lr, betas=tuple(g_optim.betas))
        self.real_label, self.fake_label = 1.0, 0.0
        self.iters = 0
        self.last = {}

    def step(self):
        """One D step and one G step, exactly as dcgan/main.py."""
        netG, netD, criterion, b = self.netG, self.netD, self.criterion, self.batch_size
        real = self.data[torch.randint(len(self.data), (b,))]
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((b,), self.real_label)
        output = netD(real).logits
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = torch.randn(b, self.nz)
        fake = netG(noise)
        label.fill_(self.fake_label)
        output = netD(fake.detach()).logits
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(self.real_label)  # fake labels are real for generator cost
        if self.freeze_d_in_g:
            netD.requires_grad_(False)
        output = netD(fake).logits
        errG = criterion(output, label)
        errG.backward()
        if self.freeze_d_in_g:
            netD.requires_grad_(True)
        self.optimizerG.step()
        self.iters += 1
        if self.iters % self.log_every == 0:  # the example prints its losses; we keep them
            self.last = {"loss_d": errD.item(), "loss_g": errG.item()}

    def run(self, steps):
        for _ in range(steps):
            self.step()
        return self.last
