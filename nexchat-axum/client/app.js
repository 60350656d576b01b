// Entry point: build the models, views and controllers and wire them together.
import { AuthModel } from './models/AuthModel.js';
import { UserModel } from './models/UserModel.js';
import { ChatModel } from './models/ChatModel.js';
import { CallModel } from './models/CallModel.js';
import { ConnectionModel } from './models/ConnectionModel.js';
import { GroupModel } from './models/GroupModel.js';
import { AttachmentModel } from './models/AttachmentModel.js';
import { AuthView } from './views/AuthView.js';
import { SidebarView } from './views/SidebarView.js';
import { ChatView } from './views/ChatView.js';
import { GroupView } from './views/GroupView.js';
import { AttachmentView } from './views/AttachmentView.js';
import { CallView } from './views/CallView.js';
import { ToastView } from './views/ToastView.js';
import { DialogView } from './views/DialogView.js';
import { PageView } from './views/PageView.js';
import { SettingsView } from './views/SettingsView.js';
import { SoundView } from './views/SoundView.js';
import { PrefsModel } from './models/PrefsModel.js';
import { AlertController } from './controllers/AlertController.js';
import { ApiClient } from './net/ApiClient.js';
import { SocketController } from './controllers/SocketController.js';
import { FriendController } from './controllers/FriendController.js';
import { ChatController } from './controllers/ChatController.js';
import { GroupController } from './controllers/GroupController.js';
import { AttachmentController } from './controllers/AttachmentController.js';
import { CallController } from './controllers/CallController.js';
import { ConversationController } from './controllers/ConversationController.js';
import { AuthController } from './controllers/AuthController.js';
import { SettingsController } from './controllers/SettingsController.js';
import { applyTheme } from './views/theme.js';

applyTheme();

const auth = new AuthModel();
const users = new UserModel();
const chat = new ChatModel();
const call = new CallModel();
const conn = new ConnectionModel();
const groupModel = new GroupModel();

const views = {
  auth: new AuthView(),
  sidebar: new SidebarView(),
  chat: new ChatView(),
  group: new GroupView(),
  attachment: new AttachmentView(),
  call: new CallView(),
  toast: new ToastView(),
  dialog: new DialogView(),
  page: new PageView(),
  settings: new SettingsView(),
  sound: new SoundView(),
};

const api = new ApiClient(() => auth.token);
const socket = new SocketController({ api, auth, conn, views });
const friends = new FriendController({ api, auth, users, chat, views });
const chats = new ChatController({ api, auth, users, chat, views, socket, friends });
const groups = new GroupController({
  api, auth, users, groups: groupModel, views, socket, chats, friends,
});
chats.onOpen = () => groups.close(true);
// Photos, files and voice notes (protocol 1.3) in both kinds of conversation.
const attachments = new AttachmentController({
  api, auth, model: new AttachmentModel(), views,
});
chats.attachments = attachments;
groups.attachments = attachments;
for (const view of [views.chat, views.group]) {
  view.attachmentNodes = (m) => attachments.nodesFor(m);
  view.pruneAttachments = () => views.attachment.prune();
}
const calls = new CallController({ auth, users, call, conn, views, socket, chats, api });
const conversations = new ConversationController({
  api, auth, users, chat, chats, friends,
});
const authCtl = new AuthController({ api, auth, users, conn, views, socket, friends, chats, calls });
authCtl.groups = groups;
authCtl.attachments = attachments;
new SettingsController({ api, auth, views, socket, authCtl });

const alerts = new AlertController({ prefs: new PrefsModel(), views, chats });
views.settings.bindOpen(() => alerts.show());
calls.alerts = alerts;
chats.onIncoming = (peer, text) => alerts.message(peer, text);
friends.chats = chats;
friends.conversations = conversations;
chats.onCall = (withVideo) => calls.start(withVideo);
socket.register(friends.events());
socket.register(chats.events());
socket.register(calls.events());
socket.register(groups.events());
socket.onLifecycle('synced', () => {
  chats.onSynced();
  conversations.load();
  groups.onSynced();
  attachments.loadConfig();
});

if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
  views.auth.showAuth();
  views.auth.showError('This page needs a secure context (https or localhost) for its encryption.');
} else {
  authCtl.start();
}
